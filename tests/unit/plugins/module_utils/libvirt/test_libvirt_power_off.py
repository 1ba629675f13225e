# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""power_off (clean shutdown, then destroy) and host_uuid, on libvirt's test driver and a guest that ignores ACPI."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import connection as lv

pytestmark = pytest.mark.skipif(not lv.HAS_LIBVIRT, reason="libvirt-python is not installed")


class DeafGuest:
    """A running domain whose guest ignores the ACPI power button (as a guest without an OS)."""

    def __init__(self, paused=False):
        self.active = True
        self.paused = paused
        self.calls = []

    def isActive(self):
        return self.active

    def state(self):
        return ((3 if self.paused else 1) if self.active else 5), 0

    def hasManagedSaveImage(self, flags):
        return False

    def shutdown(self):
        self.calls.append("shutdown")

    def destroy(self):
        self.calls.append("destroy")
        self.active = False

    def name(self):
        return "deaf"


def test_a_guest_that_answers_acpi_shuts_down_cleanly():
    with lv.LibvirtConnection("test:///default") as conn:
        dom = conn.lookup(name="test")
        assert lv.power_off(dom, 5) == "shutdown"
        assert lv.domain_state(dom)[0] == "shutoff"
        assert lv.power_off(dom, 5) is None


def test_a_guest_that_ignores_acpi_is_destroyed_after_the_timeout():
    guest = DeafGuest()
    assert lv.power_off(guest, 0.2) == "destroyed"
    assert guest.calls == ["shutdown", "destroy"]


def test_a_paused_guest_is_destroyed_at_once():
    guest = DeafGuest(paused=True)
    assert lv.power_off(guest, 5) == "destroyed"
    assert guest.calls == ["destroy"]


class Capabilities:
    def __init__(self, xml):
        self.xml = xml

    def getCapabilities(self):
        return self.xml


def test_host_uuid_is_the_capabilities_host_uuid_or_none():
    conn = lv.LibvirtConnection("test:///default")
    conn.conn = Capabilities("<capabilities><host><uuid>f5d20d2e-044b-4e56-9815-9074ca523be1</uuid>"
                             "<cpu/></host></capabilities>")
    assert conn.host_uuid() == "f5d20d2e-044b-4e56-9815-9074ca523be1"
    conn.conn = Capabilities("<capabilities><host><cpu/></host></capabilities>")  # the test driver's
    assert conn.host_uuid() is None

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The console proxy's check of a libvirt domain that is between states: a domain libvirt still reports
running but without a VNC port (QEMU just killed, or starting) is asked again until libvirt settles, so the
person is told "only while it runs" (or is connected), not "ask again in a moment".  A fake libvirt: the
waiting is logic of its own; the real race is console_links' (QEMU killed mid-session)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.console_proxy import hypervisor

RUNNING, SHUTOFF = 1, 5
XML = "<domain type='qemu'><name>vm1</name><devices>%s</devices></domain>"
VNC = "<graphics type='vnc' port='%d' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>"
TARGET = dict(uri="qemu:///system", host="127.0.0.1", port=5901, listen="127.0.0.1", domain_id=7)
INSTANCE = dict(uuid="7a0c8a34-6f55-4a47-9b6c-3d3e0f1b2a11", name="vm1")


class FakeLibvirt:
    class libvirtError(Exception):
        pass

    def __init__(self, states):
        self.states = list(states)      # (state, vnc port or None) as libvirt reports them, one per look

    def open(self, uri):
        return self

    def close(self):
        pass

    def lookupByUUIDString(self, uuid):
        return self

    # the domain
    def name(self):
        return "vm1"

    def ID(self):
        return 7

    def UUIDString(self):
        return INSTANCE["uuid"]

    def hasManagedSaveImage(self, flags):
        return False

    def state(self):
        self.now = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return self.now[0], 0

    def XMLDesc(self, flags):
        port = self.now[1]
        return XML % ("<graphics type='vnc' port='-1' autoport='yes'/>" if port is None else VNC % port)


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(hypervisor.time, "sleep", lambda _s: None)


def test_a_dying_domain_is_waited_for_until_libvirt_says_shut_off():
    libvirt = FakeLibvirt([(RUNNING, None), (RUNNING, None), (SHUTOFF, None)])
    problem = hypervisor._libvirt_problem(libvirt, TARGET["uri"], INSTANCE, TARGET)
    assert "only while it runs" in problem and "shut off" in problem


def test_a_starting_domain_that_gets_its_port_matches():
    libvirt = FakeLibvirt([(RUNNING, None), (RUNNING, 5901)])
    assert hypervisor._libvirt_problem(libvirt, TARGET["uri"], INSTANCE, TARGET) is None


def test_a_domain_that_never_settles_is_said_so_after_the_wait(monkeypatch):
    clock = iter(range(0, 1000))
    monkeypatch.setattr(hypervisor.time, "monotonic", lambda: next(clock) * 0.5)
    problem = hypervisor._libvirt_problem(FakeLibvirt([(RUNNING, None)]), TARGET["uri"], INSTANCE, TARGET)
    assert "no VNC port" in problem and "ask again in a moment" in problem

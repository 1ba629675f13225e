# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""State handling against libvirt's own in-process test driver (test:///default)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils import libvirt as lv
from ansible_collections.novaops.compute.plugins.module_utils.errors import NovaopsError, WaitTimeout

pytestmark = pytest.mark.skipif(not lv.HAS_LIBVIRT, reason="libvirt-python is not installed")


def test_lookup_and_state_of_the_test_drivers_domain():
    with lv.LibvirtConnection("test:///default") as conn:
        dom = conn.lookup(name="test")
        assert lv.domain_state(dom)[0] == "running"
        assert conn.lookup(name="no-such-domain") is None
        with pytest.raises(NovaopsError, match="No libvirt domain named 'no-such-domain'"):
            conn.lookup(name="no-such-domain", required=True)


def test_wait_for_state_returns_reached_state_and_times_out_clearly():
    with lv.LibvirtConnection("test:///default") as conn:
        dom = conn.lookup(name="test")
        dom.destroy()
        assert lv.wait_for_state(dom, ["shutoff"], 1) == "shutoff"
        with pytest.raises(WaitTimeout, match="Timed out after 0.2s"):
            lv.wait_for_state(dom, "running", 0.2)


def test_libvirt_errors_escaping_the_block_become_libvirt_error():
    with pytest.raises(lv.LibvirtError) as caught:
        with lv.LibvirtConnection("test:///default") as conn:
            conn.conn.defineXML("<domain type='test'><name>x</name></domain-broken>")
    assert set(caught.value.facts["libvirt_error"]) == {"code", "domain", "message"}


def test_bad_uri_fails_with_the_uri_in_the_message():
    with pytest.raises(lv.LibvirtError, match="Cannot connect to libvirt at nosuch:///x"):
        with lv.LibvirtConnection("nosuch:///x"):
            pass

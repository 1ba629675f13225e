# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""State handling against libvirt's own in-process test driver (test:///default)."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import connection as lv
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout

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


def test_a_lifecycle_event_wakes_the_wait(monkeypatch):
    """The wait sleeps until an event: with the safety re-check pushed past the timeout, only the
    event of the destroy can end it long before the timeout (without it: 30 s, then the last read)."""
    monkeypatch.setattr(lv, "EVENT_RECHECK", 60.0)
    with lv.LibvirtConnection("test:///default") as conn:
        assert lv.events_enabled()
        dom = conn.lookup(name="test")
        if not dom.isActive():
            dom.create()
        with lv.LifecycleEvents(dom) as events:
            assert events.active

        def destroy_soon():
            time.sleep(0.3)
            conn.conn.lookupByName("test").destroy()

        worker = threading.Thread(target=destroy_soon)
        worker.start()
        started = time.monotonic()
        try:
            assert lv.wait_for_state(dom, "shutoff", 30) == "shutoff"
            assert time.monotonic() - started < 15
        finally:
            worker.join()
        dom.create()


def test_without_events_the_wait_polls(monkeypatch):
    monkeypatch.setattr(lv, "events_enabled", lambda: False)
    with lv.LibvirtConnection("test:///default") as conn:
        dom = conn.lookup(name="test")
        with lv.LifecycleEvents(dom) as events:
            assert not events.active
        with pytest.raises(WaitTimeout, match="to be paused"):
            lv.wait_for_state(dom, "paused", 0.3)

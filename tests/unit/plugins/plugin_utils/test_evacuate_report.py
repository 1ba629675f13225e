# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.plugin_utils.evacuate_report import evacuate_html, evacuate_report


def hostvars(host, outcome=None, task=None, driver="libvirt"):
    out = dict(inventory_hostname=host, novaops_name=host, novaops_uuid="u-" + host, novaops_driver=driver,
               novaops_hypervisor="hv1", novaops_task=task)
    if outcome:
        out["evacuate_outcome"] = outcome
    return out


MOVED = dict(status="moved", how="live", source="hv1", dest="qemu+tcp://hv2/system", duration=2.5, state="running")
RUN = dict(run_id="20260101T000000Z", started="s", finished="f", final=True)
LOCK = dict(operation="xen_snapshot", owner="hv1:42", started_at="2026-01-01T00:00:00Z", source="other_config")


def test_moved_failed_and_skipped_with_the_lock_that_holds_it():
    found = [hostvars("b", MOVED), hostvars("a", dict(MOVED, duration=4.0)),
             hostvars("c", dict(status="failed", msg="the destination has 12 MiB free", dest="hv2"))]
    report = evacuate_report(["hv1"], found, [hostvars("d", task=LOCK, driver="xenapi")], RUN)
    assert [e["host"] for e in report["moved"]] == ["a", "b"]
    assert report["moved"][0]["dest"] == "qemu+tcp://hv2/system" and report["moved"][0]["uuid"] == "u-a"
    assert [e["msg"] for e in report["failed"]] == ["the destination has 12 MiB free"]
    assert report["skipped"][0]["why"] == "an operation lock holds it: xen_snapshot by hv1:42 since 2026-01-01T00:00:00Z"
    assert report["summary"] == dict(found=3, moved=2, failed=1, pending=0, skipped=1, seconds_moving=6.5,
                                     longest=4.0, empty=False, ok=False)


def test_a_lock_taken_since_the_inventory_was_read_is_skipped_with_its_operation():
    found = [hostvars("a", MOVED), hostvars("e", dict(status="skipped", task=LOCK, how="live"), driver="xenapi")]
    report = evacuate_report(["hv1"], found, [], RUN)
    assert [e["host"] for e in report["skipped"]] == ["e"] and not report["failed"]
    assert report["skipped"][0]["why"] == "an operation lock holds it: xen_snapshot by hv1:42 since 2026-01-01T00:00:00Z"
    assert report["summary"]["ok"] and not report["summary"]["empty"]


def test_all_moved_is_an_empty_hypervisor_and_unreached_hosts_are_pending():
    report = evacuate_report(["hv1"], [hostvars("a", MOVED)], [], RUN)
    assert report["summary"]["empty"] and report["summary"]["ok"]
    report = evacuate_report(["hv1"], [hostvars("a", MOVED), hostvars("z")], [], dict(RUN, final=False))
    assert [e["host"] for e in report["pending"]] == ["z"] and not report["summary"]["ok"]


def test_moved_cold_says_why_not_live_and_the_page_says_the_fallback_was_asked():
    cold = dict(MOVED, how="cold", why="live migration: the instance directory is not shared", downtime_ms=None)
    report = evacuate_report(["hv1"], [hostvars("a", cold)], [], dict(RUN, cold_fallback=True))
    assert report["cold_fallback"] and report["moved"][0]["how"] == "cold"
    page = evacuate_html(report)
    assert "cold fallback: asked" in page and "live migration: the instance directory is not shared" in page
    assert "cold fallback: not asked" in evacuate_html(evacuate_report(["hv1"], [hostvars("a", MOVED)], [], RUN))


def test_html_escapes_what_hypervisors_said():
    found = [hostvars("<b>x", dict(status="failed", msg="<script>alert(1)</script>"))]
    page = evacuate_html(evacuate_report(["hv<1>"], found, [], RUN))
    assert "<script>" not in page and "&lt;script&gt;" in page and "hv&lt;1&gt;" in page
    assert "attention needed" in page


def test_in_check_mode_what_would_move_is_planned_not_moved():
    found = [hostvars("a", MOVED), hostvars("b", dict(MOVED, how="cold")),
             hostvars("c", dict(status="failed", msg="refused"))]
    report = evacuate_report(["hv1"], found, [], dict(RUN, check_mode=True))
    assert [(e["host"], e["status"]) for e in report["moved"]] == [("a", "planned"), ("b", "planned")]
    assert report["failed"][0]["status"] == "failed"
    assert [e["status"] for e in evacuate_report(["hv1"], found, [], RUN)["moved"]] == ["moved", "moved"]

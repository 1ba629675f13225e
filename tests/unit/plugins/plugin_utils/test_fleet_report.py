# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_report import (
    fleet_repair_html, fleet_repair_report, playbook_outputs)


def hostvars(host, outcome=None, reasons=("crashed, desired running",), busy=False, hypervisor="hv1"):
    out = dict(inventory_hostname=host, novaops_name=host, novaops_uuid="u-" + host, novaops_driver="libvirt",
               novaops_hypervisor=hypervisor, novaops_repair_reasons=list(reasons), novaops_busy=busy,
               novaops_task=dict(operation="resize") if busy else None)
    if outcome:
        out["fleet_repair_outcome"] = dict(host=host, hypervisor=hypervisor, reasons=list(reasons), **outcome)
    return out


RUN = dict(run_id="20260101T000000Z", started="s", finished="f")


def test_final_report_sorts_outcomes_and_verifies_against_the_fresh_read():
    found = [hostvars("b", dict(status="repaired", after="running")),
             hostvars("a", dict(status="repaired", after="running")),
             hostvars("c", dict(status="failed", msg="Timed out after 120s"))]
    skipped = [hostvars("d", busy=True), hostvars("e", reasons=(), busy=True)]
    report = fleet_repair_report(found, skipped, ["b"], RUN)
    assert [e["host"] for e in report["repaired"]] == ["a", "b"]
    assert [e["verified"] for e in report["repaired"]] == [True, False]
    assert [e["msg"] for e in report["failed"]] == ["Timed out after 120s"]
    assert report["skipped"] == [dict(host="d", name="d", uuid="u-d", driver="libvirt", hypervisor="hv1", why="busy",
                                      task=dict(operation="resize"), reasons=["crashed, desired running"])]
    assert report["still_broken"] == ["b"] and report["final"]
    assert report["summary"] == dict(found=3, repaired=2, failed=1, pending=0, skipped=1, still_broken=1,
                                     inventory_verified=True, ok=False)


def test_report_while_batches_run_lists_pending_hosts():
    report = fleet_repair_report([hostvars("a", dict(status="repaired")), hostvars("z")], [], None,
                                 dict(RUN, final=False))
    assert not report["final"] and report["still_broken"] is None
    assert [e["host"] for e in report["pending"]] == ["z"]
    assert report["summary"]["ok"] is False and report["summary"]["still_broken"] is None
    assert "verified" not in report["repaired"][0]


def test_a_clean_run():
    report = fleet_repair_report([hostvars("a", dict(status="repaired"))], [], [], RUN)
    assert report["summary"]["ok"] and report["repaired"][0]["verified"]
    empty = fleet_repair_report([], [], [], RUN)
    assert empty["summary"] == dict(found=0, repaired=0, failed=0, pending=0, skipped=0, still_broken=0,
                                    inventory_verified=True, ok=True)


def test_a_final_report_without_the_fresh_read_relies_on_the_read_back():
    report = fleet_repair_report([hostvars("a", dict(status="repaired"))], [], None, dict(RUN, final=True))
    assert report["final"] and report["summary"]["ok"] and not report["summary"]["inventory_verified"]
    assert report["still_broken"] is None and "verified" not in report["repaired"][0]
    assert "read-back" in fleet_repair_html(report)


def test_html_escapes_what_hypervisors_say():
    evil = "<script>alert(1)</script>"
    report = fleet_repair_report([hostvars(evil, dict(status="failed", msg="a & b <i>"))],
                                 [hostvars("r", reasons=("paused, desired running",))], [evil],
                                 dict(RUN, unreachable=[dict(source="qemu+ssh://hv9/system", error="<refused>")]))
    page = fleet_repair_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert evil not in page and "&lt;script&gt;" in page and "a &amp; b &lt;i&gt;" in page
    assert "&lt;refused&gt;" in page and "rescued" in page
    assert "attention needed" in page


def test_in_check_mode_a_repair_is_planned_not_repaired():
    found = [hostvars("a", dict(status="repaired", after="running")), hostvars("c", dict(status="failed", msg="x"))]
    report = fleet_repair_report(found, [], None, dict(RUN, check_mode=True))
    assert [e["status"] for e in report["repaired"]] == ["planned"] and report["failed"][0]["status"] == "failed"
    assert [e["status"] for e in fleet_repair_report(found, [], None, RUN)["repaired"]] == ["repaired"]


def test_the_fresh_read_counts_only_at_the_end_of_a_run_that_read_it_and_not_in_check_mode():
    found = [hostvars("a", dict(status="repaired"))]
    assert fleet_repair_report(found, [], ["a"], RUN)["still_broken"] == ["a"]
    for run in (dict(RUN, final=False), dict(RUN, check_mode=True), dict(RUN, verify=False)):
        report = fleet_repair_report(found, [], ["a"], run)
        assert report["still_broken"] is None and not report["summary"]["inventory_verified"], run
        assert "verified" not in report["repaired"][0]


FILES = dict(json="/r/fleet_repair-x.json", html="/r/fleet_repair-x.html")
SHOWN = (("repaired", "reasons"), ("failed", "msg"), ("skipped", "why"))


def test_what_the_playbook_prints_and_hands_the_job():
    """It was items2dict, combine and map chains in the playbooks' report tasks."""
    found = [hostvars("b", dict(status="repaired", after="running")),
             hostvars("c", dict(status="failed", msg="Timed out after 120s")), hostvars("p")]
    report = fleet_repair_report(found, [hostvars("d", busy=True)], ["b"], dict(RUN, final=True))
    out = playbook_outputs("fleet_repair", report, FILES, SHOWN, ("still_broken",))
    assert out["shown"] == dict(summary=report["summary"], repaired={"b": ["crashed, desired running"]},
                                failed={"c": "Timed out after 120s"}, skipped={"d": report["skipped"][0]["why"]},
                                still_broken=["b"], files=FILES)
    assert list(out["shown"]) == ["summary", "repaired", "failed", "skipped", "still_broken", "files"]
    assert out["stats"] == dict(fleet_repair=dict(report["summary"], report_json=FILES["json"], report_html=FILES["html"]),
                                fleet_repair_repaired=["b"], fleet_repair_failed=["c"])
    assert out["left"] == ["c", "p"]                 # failed, then not reached
    assert "report_json" not in report["summary"]    # the report itself is left as it is


def test_an_empty_run_prints_empty_maps():
    report = fleet_repair_report([], [], [], dict(RUN, final=True))
    out = playbook_outputs("evacuate", dict(report, moved=[]), FILES, (("moved", "dest"),) + SHOWN[1:])
    assert out["shown"] == dict(summary=report["summary"], moved={}, failed={}, skipped={}, files=FILES)
    assert out["stats"]["evacuate_moved"] == [] and out["stats"]["evacuate_failed"] == [] and out["left"] == []

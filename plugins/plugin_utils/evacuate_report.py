# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The evacuation report: what moved off the hypervisor, where to and how long each move took,
what did not move and why, what was skipped (an operation lock holds it).

evacuate_report() assembles it from the inventory's host variables and the ``evacuate_outcome``
fact each instance the run reached recorded; evacuate_html() renders it as one self-contained
page, escaping every value (names and messages come from hypervisors).  The action plugin
evacuate_report writes both.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import describe
from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_report import as_done, html_table, html_text

REPORT_VERSION = 1


def _entry(hostvars):
    return dict(host=str(hostvars.get("inventory_hostname")), name=hostvars.get("novaops_name"),
                uuid=hostvars.get("novaops_uuid"), driver=hostvars.get("novaops_driver"),
                hypervisor=hostvars.get("novaops_hypervisor"))


def _skipped(hostvars, task=None):
    """A busy instance: the lock the inventory read, or the one its migration was refused for (task)."""
    entry = _entry(hostvars)
    task = task or hostvars.get("novaops_task")
    entry["task"] = task
    if isinstance(task, dict):
        task = describe(task)
    entry["why"] = "an operation lock holds it: %s" % task if task else "an operation lock holds it"
    return entry


def evacuate_report(hypervisors, found, skipped=None, run=None):
    """The report as a dict.

    hypervisors: the ones being emptied; found: host variables of the running instances to move;
    skipped: host variables of its busy instances; run: run_id, started, finished, check_mode,
    final (the end of the run), cold_fallback (whether a failed live move may go cold).
    """
    run = dict(run or {})
    moved, failed, pending = [], [], []
    skipped_out = [_skipped(h) for h in skipped or []]
    for hostvars in found or []:
        outcome = hostvars.get("evacuate_outcome")
        if not outcome:
            pending.append(_entry(hostvars))
            continue
        if outcome.get("status") == "skipped":     # locked since the inventory was read: the module refused
            skipped_out.append(_skipped(hostvars, outcome.get("task")))
            continue
        entry = dict(_entry(hostvars), **outcome)
        (failed if entry.get("status") == "failed" else moved).append(as_done(entry, run))
    final = bool(run.get("final"))
    durations = [float(e["duration"]) for e in moved if e.get("duration") is not None]
    report = dict(
        version=REPORT_VERSION, hypervisors=list(hypervisors), run_id=run.get("run_id"), started=run.get("started"),
        finished=run.get("finished"), final=final, check_mode=bool(run.get("check_mode")),
        cold_fallback=bool(run.get("cold_fallback")),
        moved=sorted(moved, key=lambda e: e["host"]), failed=sorted(failed, key=lambda e: e["host"]),
        pending=sorted(pending, key=lambda e: e["host"]), skipped=sorted(skipped_out, key=lambda e: e["host"]))
    report["summary"] = dict(found=len(found or []), moved=len(moved), failed=len(failed), pending=len(pending),
                             skipped=len(skipped_out), seconds_moving=round(sum(durations), 1),
                             longest=round(max(durations), 1) if durations else None,
                             empty=final and not failed and not pending and not skipped_out,
                             ok=final and not failed and not pending)
    return report


def _verdict(report, summary):
    if report.get("check_mode"):
        return "check mode: what would move"
    if not report.get("final"):
        return "run in progress"
    if summary.get("empty"):
        return "no running instance is left there"
    if summary.get("ok"):
        return "every instance that could move moved; the skipped ones are still there"
    return "attention needed: instances are still on the hypervisor"


def evacuate_html(report):
    """The report as a self-contained HTML page (a str)."""
    s = report.get("summary") or {}
    parts = [
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        "<title>Evacuation of %s %s</title>" % (
            html_text(", ".join(report.get("hypervisors") or [])), html_text(report.get("run_id"))),
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
        "th{background:#eee}.ok{color:#070}.bad{color:#b00}.none{color:#777}</style></head><body>",
        "<h1>Evacuation of %s</h1>" % html_text(", ".join(report.get("hypervisors") or [])),
        "<p class='%s'>%s</p>" % ("ok" if s.get("ok") else "bad", html_text(_verdict(report, s))),
        "<p>run %s, started %s, finished %s; %s found, %s moved (%s s in all, longest %s s), %s failed, "
        "%s skipped, %s not reached</p>" % tuple(html_text(v) for v in (
            report.get("run_id"), report.get("started"), report.get("finished"), s.get("found"), s.get("moved"),
            s.get("seconds_moving"), s.get("longest"), s.get("failed"), s.get("skipped"), s.get("pending"))),
    ]
    parts.append("<p>cold fallback: %s</p>" % ("asked - what could not move live was cold-migrated"
                                               if report.get("cold_fallback") else "not asked"))
    parts += html_table("Moved", report.get("moved") or [], [
        ("host", "instance"), ("driver", "driver"), ("source", "from"), ("dest", "to"), ("how", "how"),
        ("duration", "seconds"), ("downtime_ms", "downtime (ms)"), ("state", "state there"),
        ("chosen", "why there"), ("why", "why not live")])
    parts += html_table("Did not move", report.get("failed") or [], [
        ("host", "instance"), ("driver", "driver"), ("source", "on"), ("dest", "meant for"), ("msg", "why")])
    parts += html_table("Skipped", report.get("skipped") or [], [
        ("host", "instance"), ("driver", "driver"), ("hypervisor", "hypervisor"), ("why", "why")])
    if report.get("pending"):
        parts += html_table("Not reached (the run stopped first)", report["pending"], [
            ("host", "instance"), ("driver", "driver"), ("hypervisor", "hypervisor")])
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

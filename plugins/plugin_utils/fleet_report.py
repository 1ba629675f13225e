# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fleet repair report: what was repaired, what failed and why, what was skipped.

fleet_repair_report() assembles it from the host variables the inventory plugins set and the
``fleet_repair_outcome`` fact each repaired host recorded; fleet_repair_html() renders it as
one self-contained page.  Every value shown comes from hypervisors (names, error messages):
the page escapes all of it.  The action plugin fleet_repair_report writes both.
"""

from __future__ import annotations

import html

SKIP_KEYS = ("host", "name", "uuid", "driver", "hypervisor", "why", "task", "reasons")
REPORT_VERSION = 1


def _host_entry(hostvars):
    return dict(host=str(hostvars.get("inventory_hostname")), name=hostvars.get("novaops_name"),
                uuid=hostvars.get("novaops_uuid"), driver=hostvars.get("novaops_driver"),
                hypervisor=hostvars.get("novaops_hypervisor"),
                reasons=list(hostvars.get("novaops_repair_reasons") or []))


def _by_place(entry):
    return (entry.get("hypervisor") or "", entry.get("host") or "")


def as_done(entry, run):
    """An outcome as a report lists it: in check mode nothing changed, so what would have been done (repaired,
    moved) is planned; a failure stays failed."""
    if run.get("check_mode") and entry.get("status") != "failed":
        return dict(entry, status="planned")
    return entry


def playbook_outputs(prefix, report, files, shown, as_is=()):
    """What a run report's playbook prints and hands the job (set_stats), from the report and its files.

    ``shown``: the report's lists the printout shows, each as (name, field) - {host: that field} per entry;
    ``as_is``: report keys printed as they are.  The first list of ``shown`` is what was done (moved,
    repaired).  Returns dict(shown, stats, left): the printout (summary, the lists, as_is, files); the
    stats, <prefix> (the summary with report_json and report_html) and <prefix>_<done> and <prefix>_failed
    (their hosts); left, the hosts failed or not reached."""
    def hosts(name):
        return [entry["host"] for entry in report.get(name) or []]

    printed = dict(summary=report["summary"])
    printed.update((name, dict((e["host"], e.get(field)) for e in report.get(name) or [])) for name, field in shown)
    printed.update((key, report.get(key)) for key in as_is)
    printed["files"] = files
    done = shown[0][0]
    stats = {prefix: dict(report["summary"], report_json=files["json"], report_html=files["html"]),
             "%s_%s" % (prefix, done): hosts(done), "%s_failed" % prefix: hosts("failed")}
    return dict(shown=printed, stats=stats, left=hosts("failed") + hosts("pending"))


def fleet_repair_report(found, skipped=None, still_broken=None, run=None):
    """The report as a dict.

    found: host variables of every host that needed repair when the run started;
    skipped: host variables of the busy and rescued hosts (those with findings are listed);
    still_broken: host names in needs_repair after the run's fresh read (None while it runs); not read
    unless final, with verify (the run read the inventory again; default true), and not in check mode;
    run: run_id, started, finished, check_mode, unreachable (sources the inventory skipped), verify and
    final (the end of the run; default: still_broken is given).
    """
    run = dict(run or {})
    final = bool(run.get("final", still_broken is not None))
    if not (final and run.get("verify", True) and not run.get("check_mode")):
        still_broken = None     # read at the end of a run that read the inventory again; a check changed nothing
    repaired, failed, pending = [], [], []
    for hostvars in found or []:
        outcome = hostvars.get("fleet_repair_outcome")
        if not outcome:
            pending.append(_host_entry(hostvars))
            continue
        entry = dict(outcome)
        entry["reasons"] = list(entry.get("reasons") or [])
        (failed if entry.get("status") == "failed" else repaired).append(as_done(entry, run))
    skipped_out = []
    for hostvars in skipped or []:
        entry = _host_entry(hostvars)
        if not entry["reasons"]:
            continue
        entry["why"] = "busy" if hostvars.get("novaops_busy") else "rescued"
        entry["task"] = hostvars.get("novaops_task")
        skipped_out.append(dict((k, entry.get(k)) for k in SKIP_KEYS))
    verified = still_broken is not None
    broken_now = sorted(str(h) for h in (still_broken or []))
    if verified:
        for entry in repaired:
            entry["verified"] = entry["host"] not in broken_now
    report = dict(
        version=REPORT_VERSION, run_id=run.get("run_id"), started=run.get("started"), finished=run.get("finished"),
        final=final, check_mode=bool(run.get("check_mode")),
        repaired=sorted(repaired, key=_by_place), failed=sorted(failed, key=_by_place),
        pending=sorted(pending, key=_by_place), skipped=sorted(skipped_out, key=_by_place),
        still_broken=broken_now if verified else None, unreachable=list(run.get("unreachable") or []))
    report["summary"] = dict(found=len(found or []), repaired=len(repaired), failed=len(failed),
                             pending=len(pending), skipped=len(skipped_out),
                             still_broken=len(broken_now) if verified else None, inventory_verified=verified,
                             ok=final and not failed and not pending and not broken_now)
    return report


def html_text(value):
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "<br>".join(html_text(v) for v in value)
    return html.escape(str(value), quote=True)


def html_table(title, rows, columns):
    out = ["<h2>%s (%d)</h2>" % (html_text(title), len(rows))]
    if not rows:
        out.append("<p class='none'>none</p>")
        return out
    out.append("<table><tr>%s</tr>" % "".join("<th>%s</th>" % html_text(label) for _key, label in columns))
    for row in rows:
        out.append("<tr>%s</tr>" % "".join("<td>%s</td>" % html_text(row.get(key)) for key, _label in columns))
    out.append("</table>")
    return out


def fleet_repair_html(report):
    """The report as a self-contained HTML page (a str)."""
    s = report.get("summary") or {}
    if s.get("ok"):
        verdict = "every instance found was repaired, and verified %s" % (
            "by a fresh read of the inventory" if s.get("inventory_verified") else "by each repair's read-back")
    elif not report.get("final"):
        verdict = "run in progress"
    elif report.get("check_mode"):
        verdict = "check mode: what would be repaired"
    else:
        verdict = "attention needed"
    parts = [
        "<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
        "<title>Fleet repair %s</title>" % html_text(report.get("run_id")),
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:left;vertical-align:top}"
        "th{background:#eee}.ok{color:#070}.bad{color:#b00}.none{color:#777}</style></head><body>",
        "<h1>Fleet repair %s</h1>" % html_text(report.get("run_id")),
        "<p class='%s'>%s%s</p>" % ("ok" if s.get("ok") else "bad", html_text(verdict),
                                    " (check mode: nothing was changed)" if report.get("check_mode") else ""),
        "<p>started %s, finished %s; %s found, %s repaired, %s failed, %s skipped%s</p>" % (
            html_text(report.get("started")), html_text(report.get("finished")), html_text(s.get("found")), html_text(s.get("repaired")),
            html_text(s.get("failed")), html_text(s.get("skipped")),
            ", %s still broken" % html_text(s.get("still_broken")) if report.get("still_broken") is not None else
            ", %s pending" % html_text(s.get("pending"))),
    ]
    parts += html_table("Repaired", report.get("repaired") or [], [
        ("host", "instance"), ("driver", "driver"), ("hypervisor", "hypervisor"), ("reasons", "what was wrong"),
        ("before", "before"), ("after", "after"), ("actions", "actions"), ("verified", "verified")])
    parts += html_table("Failed", report.get("failed") or [], [
        ("host", "instance"), ("driver", "driver"), ("hypervisor", "hypervisor"), ("reasons", "what was wrong"),
        ("msg", "why it failed")])
    if report.get("pending"):
        parts += html_table("Not reached (the run stopped first)", report["pending"], [
            ("host", "instance"), ("hypervisor", "hypervisor"), ("reasons", "what was wrong")])
    parts += html_table("Skipped", report.get("skipped") or [], [
        ("host", "instance"), ("hypervisor", "hypervisor"), ("why", "skipped because"), ("reasons", "what is wrong")])
    if report.get("still_broken") is not None:
        parts += html_table("Still in needs_repair after the run",
                            [dict(host=h) for h in report.get("still_broken") or []], [("host", "instance")])
    if report.get("unreachable"):
        parts += html_table("Sources the inventory could not read", report["unreachable"],
                            [("source", "source"), ("error", "error")])
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

#!/usr/bin/env python3
"""`make demo`: the main job, end to end, against the test beds, then a summary.

Runs the collection's playbooks in Nova's order (boot, snapshot, resize, rescue, unrescue,
hard reboot) for a demo instance on each driver, as far as those playbooks exist yet, with
the inventory in tools/demo/inventory.yml and the beds' addresses from .beds/env.sh (the
Makefile exports them).  Prints what ran, how long it took, and the instance's disk
checksum after each step, so a changed byte shows.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
INVENTORY = Path(__file__).with_name("inventory.yml")
STEPS = ["boot", "snapshot", "resize", "rescue", "unrescue", "hard_reboot"]
DRIVERS = ["libvirt", "xenapi"]


def beds_report():
    out = subprocess.run([sys.executable, str(REPO / "tools" / "beds" / "beds.py"), "status"],
                         stdout=subprocess.PIPE, text=True).stdout
    return out.rstrip()


def run_step(step, driver):
    """One playbook for one driver; returns (rc, seconds, facts the playbook recorded)."""
    facts_file = REPO / ".beds" / "demo" / ("%s-%s.json" % (driver, step))
    facts_file.parent.mkdir(parents=True, exist_ok=True)
    if facts_file.exists():
        facts_file.unlink()
    argv = ["ansible-playbook", "-i", str(INVENTORY), str(PLAYBOOKS / ("%s.yml" % step)),
            "--limit", "demo_%s" % driver, "-e", "novaops_demo_facts=%s" % facts_file]
    started = time.monotonic()
    log = REPO / ".beds" / "demo" / ("%s-%s.log" % (driver, step))
    with open(log, "w") as out:
        rc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO).returncode
    facts = json.loads(facts_file.read_text()) if facts_file.exists() else {}
    return rc, time.monotonic() - started, facts, log


def main():
    print("== test beds")
    print(beds_report())
    rows = []
    for driver in DRIVERS:
        for step in STEPS:
            if not (PLAYBOOKS / ("%s.yml" % step)).exists():
                rows.append((driver, step, "not written yet", "", ""))
                continue
            rc, seconds, facts, log = run_step(step, driver)
            outcome = "ok" if rc == 0 else "FAILED (rc %d, log %s)" % (rc, log)
            rows.append((driver, step, outcome, "%.1fs" % seconds, facts.get("disk_sha256", "")[:16]))
    print("\n== main job")
    print("%-8s %-12s %-40s %8s  %s" % ("driver", "step", "outcome", "time", "disk sha256"))
    for row in rows:
        print("%-8s %-12s %-40s %8s  %s" % row)
    ran = [row for row in rows if row[2] != "not written yet"]
    failed = [row for row in ran if not row[2].startswith("ok")]
    print("\n%d steps ran, %d failed, %d not written yet" % (len(ran), len(failed), len(rows) - len(ran)))
    return 1 if failed else 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())

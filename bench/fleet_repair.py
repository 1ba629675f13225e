#!/usr/bin/env python3
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet repair of 20 libvirt domains against a shell loop of virsh destroy + virsh start.

The fleet (tests/integration/targets/fleet_repair/fleet_lib.py): 20 domains (QEMU TCG, 32 MiB,
one OVS VIF, a qcow2 overlay on a base file of their own), booted by libvirt_domain.  Each
round breaks the same third of them (QEMU SIGKILLed, domain destroyed, _base deleted, OVS port
removed) and times
  ours: ``ansible-playbook -i <libvirt inventory> novaops.compute.fleet_repair`` - the whole job:
        the inventory read that finds them, the repair in one batch with forks (the hard_reboot
        role), the fresh read that verifies them, the report;
  peer: ``for d in <broken>; do virsh destroy $d; virsh start $d; done`` (as the issue puts it);
then breaks them again for the peer.  The peer does not re-fetch a deleted base file, so it leaves
those domains broken: they are counted, and restored before the next round.

Standalone: ``python bench/fleet_repair.py`` (needs the beds), or ``make bench BENCH_ARGS=fleet_repair``.
NOVAOPS_BENCH_ROUNDS (default 2), NOVAOPS_BENCH_FORKS (default 20).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration", "targets", "fleet_repair"))

from fleet_lib import Fleet, random_tag  # noqa: E402  pylint: disable=wrong-import-position

VENV = os.environ.get("VENV", os.path.expanduser("~/.cache/novaops-compute/venv"))
BUILD = os.environ.get("NOVAOPS_BENCH_BUILD", "/tmp/nc-build-fr-bench")
ROUNDS = int(os.environ.get("NOVAOPS_BENCH_ROUNDS", "2"))
FORKS = int(os.environ.get("NOVAOPS_BENCH_FORKS", "20"))
URI = "qemu:///system"


def env():
    e = dict(os.environ)
    if not any(os.path.isdir(os.path.join(p, "ansible_collections", "novaops", "compute", "playbooks"))
               for p in e.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) if p):
        coll = os.path.join(BUILD, "ansible_collections", "novaops", "compute")
        os.makedirs(coll, exist_ok=True)
        subprocess.run(["rsync", "-a", "--delete", "--exclude-from=%s/tools/ci/not-in-tree" % REPO, REPO + "/",
                        coll + "/"], check=True)
        e["ANSIBLE_COLLECTIONS_PATH"] = "%s:%s/lib/python3.11/site-packages" % (BUILD, VENV)
    e["PATH"] = os.path.join(VENV, "bin") + ":" + e.get("PATH", "")
    e.pop("ANSIBLE_PLAYBOOK_DIR", None)
    return e


def ours(fleet, inventory, reports):
    argv = [os.path.join(VENV, "bin", "ansible-playbook"), "-i", inventory, "-f", str(FORKS),
            "-e", "fleet_repair_batch=100%", "-e", "fleet_repair_report_dir=%s" % reports,
            "novaops.compute.fleet_repair"]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=fleet.env, check=False)
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("fleet_repair failed:\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-2000:]))
    with open(os.path.join(reports, "fleet_repair-latest.json")) as handle:
        report = json.load(handle)
    return took, report


def peer(names):
    started = time.monotonic()
    failed = []
    for name in names:
        subprocess.run(["virsh", "-c", URI, "destroy", name], capture_output=True, check=False)
        if subprocess.run(["virsh", "-c", URI, "start", name], capture_output=True, check=False).returncode:
            failed.append(name)
    return time.monotonic() - started, failed


def main():
    fleet = Fleet(random_tag("fr-bench"), libvirt_count=20, xen_count=0, env=env())
    inventory = os.path.join(fleet.tmp, "fleet.novaops_libvirt.yml")
    with open(inventory, "w") as handle:
        json.dump(dict(plugin="novaops.compute.libvirt", uris=[URI], include=["%s-*" % fleet.tag]), handle)
    reports = os.path.join(fleet.tmp, "reports")
    picked = fleet.pick(random.Random(12), 7, 0)
    times = dict(ours=[], peer=[])
    peer_left = []
    try:
        fleet.create(forks=FORKS)
        for _round in range(ROUNDS):
            fleet.break_instances(picked)
            took, report = ours(fleet, inventory, reports)
            wrong = fleet.check()
            if wrong or sorted(e["host"] for e in report["repaired"]) != sorted(picked):
                raise SystemExit("fleet_repair left %s; repaired %s" % (wrong, [e["host"] for e in report["repaired"]]))
            times["ours"].append(took)
            fleet.break_instances(picked)
            took, failed = peer(sorted(picked))
            times["peer"].append(took)
            peer_left.append(len(fleet.check()))
            # put the base files back (what the peer cannot do) so the next round starts healthy
            ours(fleet, inventory, reports)
        o, p = statistics.median(times["ours"]), statistics.median(times["peer"])
        print("fleet of %d domains, %d broken (%s), median of %d rounds, forks %d:" % (
            len(fleet.libvirt_names), len(picked), ", ".join(sorted(set(picked.values()))), ROUNDS, FORKS))
        print("    novaops.compute.fleet_repair (inventory + repair + verify + report): %.1fs" % o)
        print("    virsh destroy + virsh start loop:                                   %.1fs "
              "(left %s of %d broken: a deleted _base is not re-fetched)" % (p, "/".join(map(str, peer_left)), len(picked)))
        print("RATIO fleet_repair_vs_virsh_destroy_start_loop: %.2f (ours %.1fs / virsh loop %.1fs over the same %d broken domains)"
              % (o / p, o, p, len(picked)))
    finally:
        errors = fleet.destroy()
        if errors:
            print("cleanup: %s" % errors)


if __name__ == "__main__":
    sys.exit(main())

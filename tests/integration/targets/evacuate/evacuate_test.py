# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""live_migrate.yml and evacuate.yml on the beds (run by runme.sh), with a mixed inventory of both drivers.

libvirt guests are counting_guest.py's (libvirt_migrate's target): TCG domains whose RAM count shows on
the serial console; they move by block migration to the second libvirt host (NOVAOPS_LIBVIRT2_URI).
XenAPI VMs move to the other host of their pool (pool_migrate): pool a of the beds when it has two hosts, else a
private simulator pool of two hosts this test starts (until the shared bed is restarted with --hosts 2).

- live_migrate.yml moves one libvirt instance (it keeps counting there: moved live, not restarted) and one
  XenAPI VM; a second run changes nothing; a run without dest fails naming it.
- evacuate.yml empties the libvirt host and the first XenAPI host of 7 instances: 2 libvirt and 3 XenAPI move, one VM an
  operation lock holds is skipped (the report says which operation), one that is not there does not move (the
  report says why, and the run fails); the instances moved before are on other hypervisors and are left alone.
  The JSON and HTML reports are read, and each instance is looked for where it runs afterwards.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
import uuid as uuids

import XenAPI

from roles_lib import Checks, Playbooks
from xen_vms import destroy_vm

E = os.environ
TAG = "nt-ev" + "".join(random.choice(string.ascii_lowercase) for _letter in range(4))
HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "..", "libvirt_migrate", "files", "counting_guest.py")
URI1, URI2 = "qemu:///system", E.get("NOVAOPS_LIBVIRT2_URI", "")
INST = E["NOVAOPS_INSTANCES_DIR"]
INST2 = E.get("NOVAOPS_LIBVIRT2_INSTANCES_DIR", INST)
HV_LIBVIRT = TAG + "-hv1"
LIBVIRT = dict((TAG + "-l%d" % n, str(uuids.uuid4())) for n in (1, 2, 3))
XEN = [TAG + "-x%d" % n for n in (1, 2, 3, 4, 5)]
BUSY, GHOST = XEN[4], TAG + "-x9"
# the lock as the xenapi inventory plugin reads it (other_config novaops_task_state)
TASK = dict(operation="xen_snapshot", owner="hv1:4242", started_at="2026-12-07T05:00:00Z", source="other_config")
WHY = "xen_snapshot by hv1:4242 since 2026-12-07T05:00:00Z"
check = Checks()


class Pool:
    """Pool a of the beds when it has two hosts, else a private simulator pool of two hosts (the shared bed
    until it is restarted with --hosts 2), started as tools/beds/beds.py starts the bed's."""

    def __init__(self, work):
        self.http, self.https, self.password = E["XENAPI_HTTP_URL"], E["XENAPI_POOL_A_URL"], E["XENAPI_POOL_A_PASSWORD"]
        self.proc = None
        if len(self.session().xenapi.host.get_all()) < 2:
            self.start(os.path.join(work, "xapisim"))
        x = self.session().xenapi
        self.hosts = sorted(x.host.get_name_label(h) for h in x.host.get_all())
        self.host_refs = dict((x.host.get_name_label(h), h) for h in x.host.get_all())

    def start(self, state):
        repo = os.path.dirname(E["NOVAOPS_BEDS_DIR"])
        ca = os.path.dirname(E["XENAPI_CA_PATH"])
        os.makedirs(state)
        self.password = uuids.uuid4().hex
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xapisim", "serve", "--name", TAG, "--host", "127.0.0.1", "--port", "0",
             "--https-port", "0", "--cert", os.path.join(ca, "server.pem"), "--key", os.path.join(ca, "server.key"),
             "--state-dir", state, "--user", "root", "--password=" + self.password,
             "--plugin-dir", os.path.join(repo, "files", "xapi.d", "plugins"), "--hosts", "2"],
            env=dict(E, PYTHONPATH=os.path.join(repo, "tools")), stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(state, "..", "xapisim.log"), "w"))
        ready = os.path.join(state, "ready.json")
        for _attempt in range(240):
            if os.path.exists(ready):
                break
            time.sleep(0.25)
        with open(ready) as handle:
            facts = json.load(handle)
        self.http, self.https = facts["http"], facts["https"]
        print("a private simulator pool of two hosts: %s" % self.https, flush=True)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(30)

    def session(self):
        s = XenAPI.Session(self.http)
        s.xenapi.login_with_password("root", self.password)
        return s

    def where(self, name):
        """(host name label, power state) of the VM, else (None, None)."""
        x = self.session().xenapi
        for vm in x.VM.get_by_name_label(name):
            host = x.VM.get_resident_on(vm)
            return (x.host.get_name_label(host) if host != "OpaqueRef:NULL" else None, x.VM.get_power_state(vm))
        return (None, None)

    def boot(self, name, host):
        x = self.session().xenapi
        vm = x.VM.clone(x.VM.get_by_name_label("Debian Bookworm 12")[0], name)
        x.VM.provision(vm)
        x.VM.start_on(vm, self.host_refs[host], False, True)
        return x.VM.get_uuid(vm)

    def remove(self, name):
        x = self.session().xenapi
        for vm in x.VM.get_by_name_label(name):
            destroy_vm(x, vm)


def virsh(uri, *args):
    return subprocess.run(["virsh", "-q", "-c", uri] + list(args), capture_output=True, text=True, check=False)


def domstate(uri, uuid):
    proc = virsh(uri, "domstate", uuid)
    return proc.stdout.strip() if proc.returncode == 0 else None


def counts(uuid, instances):
    proc = subprocess.run([sys.executable, GUEST, "counts", os.path.join(instances, uuid, "console.log")],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def libvirt_host(name, uuid, hypervisor):
    return dict(compute_driver="libvirt", instance_name=name, instance_uuid=uuid, libvirt_uri=URI1,
                novaops_driver="libvirt", novaops_name=name, novaops_uuid=uuid, novaops_hypervisor=hypervisor,
                novaops_libvirt_local_uri=URI1)


def xen_host(pool, name, uuid, hypervisor, task=None):
    pool = dict(url=pool.https, username="root", password=pool.password, ca_path=E["XENAPI_CA_PATH"])
    out = dict(compute_driver="xenapi", instance_name=name, instance_uuid=uuid, novaops_driver="xenapi",
               novaops_name=name, novaops_uuid=uuid, novaops_hypervisor=hypervisor, novaops_task=task,
               novaops_busy=bool(task))
    out.update(("xenapi_" + k, v) for k, v in pool.items())
    out.update(("novaops_xenapi_" + k, v) for k, v in pool.items())
    return out


def inventory(path, hosts, busy):
    """The inventory plugins' shape: instances as hosts, in the groups running and busy."""
    base = dict(ansible_connection="local", ansible_python_interpreter=sys.executable)
    with open(path, "w") as handle:
        json.dump(dict(all=dict(vars=base, hosts=hosts, children=dict(
            running=dict(hosts=dict((h, {}) for h in hosts)), busy=dict(hosts=dict((h, {}) for h in busy))))), handle)
    return path


def test_live_migrate(books, pool, l1, x1):
    l1_uuid = LIBVIRT[l1]
    for _attempt in range(120):         # counting for a while (TCG on a busy machine: seconds)
        if len(counts(l1_uuid, INST)) >= 2:
            break
        time.sleep(0.25)
    before = max(counts(l1_uuid, INST) or [0])
    run = books.run("live_migrate", "--limit", l1, extra=dict(dest=URI2))
    check.run_ok(run, "live_migrate.yml moves libvirt instance %s to the second host" % l1, changed=True)
    check(domstate(URI2, l1_uuid) == "running" and domstate(URI1, l1_uuid) is None,
          "%s runs on the second host and is gone from the first" % l1, (domstate(URI1, l1_uuid), domstate(URI2, l1_uuid)))
    check("yes" in virsh(URI2, "dominfo", l1_uuid).stdout.split("Persistent:")[-1].split("\n")[0],
          "%s is persistent on the second host" % l1)
    there = []
    for _attempt in range(40):          # the destination's console log: its first counts come within a second
        there = counts(l1_uuid, INST2)
        if there:
            break
        time.sleep(0.25)
    check(bool(there) and there[0] > max(before, 0x40000),
          "%s counts on there from where it was (not restarted): %x here, then %s there" % (
              l1, before, " ".join("%x" % c for c in there[:3])))
    hv_a, hv_b = pool.hosts
    run = books.run("live_migrate", "--limit", x1, extra=dict(dest=hv_b))
    check.run_ok(run, "live_migrate.yml moves XenAPI VM %s to the pool's other host" % x1, changed=True)
    check(pool.where(x1) == (hv_b, "Running"), "%s runs on %s" % (x1, hv_b), pool.where(x1))
    run = books.run("live_migrate", "--limit", l1, extra=dict(dest=URI2))
    check.run_ok(run, "live_migrate.yml again: %s is there already" % l1, changed=False)
    run = books.run("live_migrate", "--limit", l1)
    check.run_failed(run, "live_migrate.yml without dest", "live_migrate_dest")


def test_evacuate(books, pool, report_dir):
    hv_a, hv_b = pool.hosts
    run = books.run("evacuate", extra=dict(
        evacuate_hypervisor=[HV_LIBVIRT, hv_a], evacuate_libvirt_dest=URI2, evacuate_xenapi_dest=hv_b,
        evacuate_batch=3, evacuate_report_dir=report_dir))
    check.run_failed(run, "evacuate.yml with an instance that is not there", GHOST)
    with open(os.path.join(report_dir, "evacuate-latest.json")) as handle:
        report = json.load(handle)
    moved = dict((e["host"], e) for e in report["moved"])
    movers = sorted(list(LIBVIRT)[1:] + XEN[1:4])
    check(sorted(moved) == movers, "the report lists the 5 instances moved", sorted(moved))
    check(all(e["dest"] == (URI2 if e["driver"] == "libvirt" else hv_b) and float(e["duration"]) > 0
              and e["state"] == "running" and e["source"] in (HV_LIBVIRT, hv_a) for e in moved.values()),
          "each moved instance: from, to, running there, a duration", report["moved"])
    check(all(moved[h]["downtime_ms"] not in (None, "") for h in list(LIBVIRT)[1:]),
          "libvirt moves report libvirt's downtime", [moved[h]["downtime_ms"] for h in list(LIBVIRT)[1:] if h in moved])
    skipped = report["skipped"]
    check([e["host"] for e in skipped] == [BUSY] and WHY in skipped[0]["why"],
          "the locked instance is skipped, with its operation", skipped)
    failed = report["failed"]
    check([e["host"] for e in failed] == [GHOST] and failed[0]["msg"], "the missing one did not move, and why",
          failed)
    check(report["summary"]["found"] == 6 and not report["summary"]["ok"] and not report["pending"],
          "summary: 6 found (the busy one apart), not ok", report["summary"])
    with open(os.path.join(report_dir, "evacuate-latest.html")) as handle:
        page = handle.read()
    check(all(h in page for h in movers + [BUSY, GHOST]) and WHY in page,
          "the HTML report names every instance and the lock's operation")
    for name in list(LIBVIRT)[1:]:
        check(domstate(URI2, LIBVIRT[name]) == "running" and domstate(URI1, LIBVIRT[name]) is None,
              "%s runs on the second libvirt host only" % name)
    for name in XEN[1:4]:
        check(pool.where(name) == (hv_b, "Running"), "%s runs on %s" % (name, hv_b), pool.where(name))
    check(pool.where(BUSY) == (hv_a, "Running"), "the locked %s still runs on %s" % (BUSY, hv_a))


def main():
    if not URI2:
        check(False, "NOVAOPS_LIBVIRT2_URI is in .beds/env.sh (make beds starts the second libvirt host)")
        check.exit()
    work = tempfile.mkdtemp(prefix=TAG + "-")
    books = Playbooks(os.path.join(work, "inventory.json"), os.path.join(work, "logs"))
    pool = None
    finished = False
    try:
        for name, uuid in LIBVIRT.items():
            subprocess.run([sys.executable, GUEST, "boot", INST, name, uuid], check=True)
        pool = Pool(work)
        xen_uuids = dict((name, pool.boot(name, pool.hosts[0])) for name in XEN)
        l1, x1 = list(LIBVIRT)[0], XEN[0]
        hosts = dict((n, libvirt_host(n, u, HV_LIBVIRT)) for n, u in LIBVIRT.items())
        hosts.update((n, xen_host(pool, n, u, pool.hosts[0], TASK if n == BUSY else None))
                     for n, u in xen_uuids.items())
        hosts[GHOST] = xen_host(pool, GHOST, "", pool.hosts[0])
        inventory(books.inventory, hosts, [BUSY])
        test_live_migrate(books, pool, l1, x1)
        # as the inventory plugins read them now: the two moved are on other hypervisors
        hosts[l1]["novaops_hypervisor"], hosts[x1]["novaops_hypervisor"] = URI2, pool.hosts[1]
        inventory(books.inventory, hosts, [BUSY])
        test_evacuate(books, pool, os.path.join(work, "reports"))
        finished = True
    finally:
        for uuid in LIBVIRT.values():
            for uri in (URI1, URI2):
                subprocess.run([sys.executable, GUEST, "remove", uri, uuid], check=False)
            subprocess.run(["rm", "-rf", os.path.join(INST, uuid), os.path.join(INST2, uuid)],
                           check=False)
        for name in LIBVIRT:
            subprocess.run(["rm", "-f", os.path.join(INST, "_base", name + "-base"),
                            os.path.join(INST2, "_base", name + "-base")], check=False)
        if pool is not None:
            for name in XEN:
                pool.remove(name)
            pool.stop()
        if finished and not check.failures:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("logs in %s" % work, flush=True)
    check.exit()


if __name__ == "__main__":
    main()

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""live_migrate.yml and evacuate.yml on the beds (run by runme.sh), with a mixed inventory of both drivers.

libvirt guests are counting_guest.py's (libvirt_migrate's target): TCG domains whose RAM count shows on
the serial console; they move by block migration to the second libvirt host (NOVAOPS_LIBVIRT2_URI).
XenAPI VMs move to the other host of their pool (pool_migrate): pool a of the beds when it has two hosts, else a
private simulator pool of two hosts this test starts (until the shared bed is restarted with --hosts 2).

- live_migrate.yml without a destination: among the inventory's other libvirt hypervisors (the second host and
  one that does not answer) none passes for a migration over shared storage (the refusal names each with its
  reason); for an instance with an Open vSwitch VIF the destination must be named (refused, naming
  live_migrate_dest). It moves the libvirt instance to the named second host (it keeps counting there: moved live,
  not restarted); the XenAPI VM leaves its host for the pool's other one. A second run changes nothing. The libvirt
  one's VIF has anti-spoofing flows and a rate limit: the second host (its own OVS) has its port before the guest
  arrives - the OpenFlow port number reserved then is the tap's - with the flows and the HTB class (ceil), and the
  first host has nothing of it left; a run aborted by its completion timeout first leaves the VIF wired here and
  nothing of it there.
- evacuate.yml, no destination named, empties the libvirt host and the first XenAPI host of 8 instances: 2 libvirt
  and 3 XenAPI move where the modules choose, one VM the inventory shows locked is skipped and one locked after the
  inventory was read is refused by xen_migrate and skipped too (the report says which operation), one that is not
  there does not move (the report says why, and the run fails); the instances moved before are on other
  hypervisors and are left alone. The JSON and HTML reports are read, and each instance is looked for where it
  runs afterwards.
- evacuate.yml with evacuate_cold_fallback over "shared" storage (which the beds' hosts do not share): the live
  migration of a libvirt instance is refused, it is cold-migrated (the resize role, same flavor, confirmed) to the
  second host over ssh; a XenAPI VM larger than the free memory of its pool's other host (live refused) is
  cold-migrated to pool b (xen_resize over the beds' sshd, same flavor, confirmed): it runs there with its memory
  and is gone from pool a. The VM that is not there, whose evacuate_cold has no xenapi part (a host variable), is
  not moved and the report names the missing variables.
"""

from __future__ import annotations

import json
import os
import random
import re
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
DEAD = "qemu+tcp://127.0.0.1:1/system"     # a candidate that does not answer (nothing listens on port 1)
INST = E["NOVAOPS_INSTANCES_DIR"]
INST2 = E.get("NOVAOPS_LIBVIRT2_INSTANCES_DIR", INST)
HV_LIBVIRT, HV_COLD = TAG + "-hv1", TAG + "-hv3"
COLD = (TAG + "-l4", str(uuids.uuid4()))   # moved cold
COLD_XEN = TAG + "-x7"                      # moved cold to pool b: more memory than pool a's other host has free
COLD_XEN_MIB = 61 * 1024                    # the simulator's hosts have 60 GiB free
LIBVIRT = dict((TAG + "-l%d" % n, str(uuids.uuid4())) for n in (1, 2, 3))
XEN = [TAG + "-x%d" % n for n in (1, 2, 3, 4, 5, 6)]
BUSY, LATE, GHOST = XEN[4], XEN[5], TAG + "-x9"
# the first libvirt guest's OVS VIF: a bridge of this run on both hosts (each its own OVS), an uplink veth with the
# HTB QoS; HV2 is the second host as Ansible reaches it (its sshd), where the role plugs the VIF first
BRIDGE, UPLINK, PEER = TAG, TAG + "u", TAG + "p"
VIF = dict(id=str(uuids.uuid4()), mac="52:54:00:%02x:%02x:%02x" % tuple(random.randrange(256) for _b in range(3)),
           bridge=BRIDGE, ips=["10.77.%d.5" % random.randrange(256)],
           qos=dict(port=UPLINK, queue_id=random.randint(1, 4000), max_rate=50000000))
TAP = ("tap" + VIF["id"])[:14]
HTB_CLASS = "1:%x" % (VIF["qos"]["queue_id"] + 1)
HV2 = TAG + "-hv2"
# the lock as the xenapi inventory plugin reads it (other_config novaops_task_state)
TASK = dict(operation="xen_snapshot", owner="hv1:4242", started_at="2026-12-07T05:00:00Z", source="other_config")
WHY = "xen_snapshot by hv1:4242 since 2026-12-07T05:00:00Z"
# the lock LATE gets after the inventory was read: a snapshot at work on another host, started now
LATE_TASK = dict(operation="xen_snapshot", owner="hv9:4343", started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
LATE_WHY = "xen_snapshot by hv9:4343 since " + LATE_TASK["started_at"]
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

    def boot(self, name, host, memory_mib=None):
        x = self.session().xenapi
        vm = x.VM.clone(x.VM.get_by_name_label("Debian Bookworm 12")[0], name)
        x.VM.provision(vm)
        if memory_mib:
            size = str(memory_mib * 1024 * 1024)
            x.VM.set_memory_limits(vm, size, size, size, size)
        x.VM.start_on(vm, self.host_refs[host], False, True)
        return x.VM.get_uuid(vm)

    def lock(self, name, task):
        x = self.session().xenapi
        x.VM.add_to_other_config(x.VM.get_by_name_label(name)[0], "novaops_task_state", json.dumps(task))

    def remove(self, name):
        x = self.session().xenapi
        for vm in x.VM.get_by_name_label(name):
            destroy_vm(x, vm)


class Ovs:
    """One host's Open vSwitch, as the test reads it: the first host's, or the second's (its database,
    its bridges' OpenFlow sockets, its network namespace)."""

    def __init__(self, db=None, rundir=None, netns=None):
        self.db, self.rundir, self.netns = db, rundir, netns

    def sh(self, *argv, check=True):
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return subprocess.run(prefix + list(argv), capture_output=True, text=True, check=check).stdout

    def vsctl(self, *args, check=True):
        return self.sh(*(["ovs-vsctl", "--timeout=10"] + (["--db=" + self.db] if self.db else []) + list(args)),
                       check=check)

    def setup(self):
        self.vsctl("add-br", BRIDGE, "--", "set", "Bridge", BRIDGE, "datapath_type=netdev")
        self.sh("ip", "link", "add", UPLINK, "type", "veth", "peer", "name", PEER)
        self.sh("ip", "link", "set", UPLINK, "up")
        self.sh("ip", "link", "set", PEER, "up")
        self.vsctl("add-port", BRIDGE, UPLINK)

    def teardown(self):
        qos = self.vsctl("--if-exists", "get", "Port", UPLINK, "qos", check=False).strip()
        if re.match(r"^[0-9a-f-]{36}$", qos):
            queues = re.findall(r"[0-9a-f-]{36}", self.vsctl("get", "QoS", qos, "queues", check=False))
            self.vsctl("clear", "Port", UPLINK, "qos", "--", "destroy", "QoS", qos,
                       *[a for q in queues for a in ("--", "destroy", "Queue", q)], check=False)
        self.vsctl("--if-exists", "del-br", BRIDGE, check=False)
        self.sh("ip", "link", "del", UPLINK, check=False)

    def port(self):
        """The VIF's interface row (ofport, ofport_request, external_ids), or None."""
        out = self.vsctl("--if-exists", "--format=json", "--columns=ofport,ofport_request,external_ids",
                         "list", "Interface", TAP)
        rows = json.loads(out)["data"] if out.strip() else []
        if not rows:
            return None
        ofport, request, ids = rows[0]      # OVSDB's JSON: an empty optional column is ["set", []]
        return dict(ofport=ofport, ofport_request=request if isinstance(request, int) else None,
                    external_ids=dict(ids[1]))

    def flows(self):
        target = "unix:%s/%s.mgmt" % (self.rundir, BRIDGE) if self.rundir else BRIDGE
        return self.sh("ovs-ofctl", "dump-flows", target)

    def htb_class(self):
        return [line for line in self.sh("tc", "class", "show", "dev", UPLINK).splitlines() if HTB_CLASS + " " in line]

    def wired(self):
        """What of the VIF is here: its port, its anti-spoofing flows (its MAC), its queue flows, its HTB class."""
        flows = self.flows()
        return dict(port=self.port(), spoof_flows=("dl_src=" + VIF["mac"]) in flows,
                    queue_flows=("set_queue:%d" % VIF["qos"]["queue_id"]) in flows, htb=self.htb_class())


OVS1 = Ovs()
OVS2 = Ovs(E.get("NOVAOPS_LIBVIRT2_OVS_DB"), E.get("NOVAOPS_LIBVIRT2_OVS_RUNDIR"), E.get("NOVAOPS_LIBVIRT2_NETNS"))


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


def hypervisor2():
    """The second libvirt host as an inventory host Ansible reaches over ssh (its sshd, in its namespaces)."""
    return dict(ansible_connection="ssh", ansible_host=E["NOVAOPS_LIBVIRT2_ADDRESS"], ansible_user="root",
                ansible_ssh_private_key_file=E["NOVAOPS_LIBVIRT2_SSH_KEY"],
                ansible_ssh_common_args="-o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s"
                % E["NOVAOPS_LIBVIRT2_KNOWN_HOSTS"])


def inventory(path, hosts, busy, **group_vars):
    """The inventory plugins' shape: instances as hosts, in the groups running and busy; the libvirt hypervisors
    (novaops_hypervisors_libvirt, as the libvirt plugin lists them): this one, the second host, one that is down; and the second host
    as Ansible reaches it (HV2). group_vars: more variables of all."""
    base = dict(ansible_connection="local", ansible_python_interpreter=sys.executable,
                novaops_hypervisors_libvirt=[dict(name=HV_LIBVIRT, uri=URI1), dict(name=TAG + "-hv2", uri=URI2),
                                             dict(name=TAG + "-down", uri=DEAD)], **group_vars)
    with open(path, "w") as handle:
        json.dump(dict(all=dict(vars=base, hosts=dict(hosts, **{HV2: hypervisor2()}), children=dict(
            running=dict(hosts=dict((h, {}) for h in hosts)), busy=dict(hosts=dict((h, {}) for h in busy))))), handle)
    return path


def test_live_migrate(books, pool, l1, x1):
    l1_uuid = LIBVIRT[l1]
    for _attempt in range(120):         # counting for a while (TCG on a busy machine: seconds)
        if len(counts(l1_uuid, INST)) >= 2:
            break
        time.sleep(0.25)
    run = books.run(os.path.join(HERE, "source_vif.yml"), extra=dict(vif=dict(VIF, dev=TAP)))
    check.run_ok(run, "%s's VIF is wired here (flows, queue)" % l1)
    here = OVS1.wired()
    check(here["port"] and here["spoof_flows"] and here["queue_flows"] and here["htb"],
          "%s's VIF here: port, anti-spoofing and queue flows, HTB class %s" % (l1, HTB_CLASS), here)
    aborting = dict(dest=URI2, dest_host=HV2, live_migrate_bandwidth=1, live_migrate_completion_timeout=3)
    run = books.run("live_migrate", "--limit", l1, extra=aborting)
    check.run_failed(run, "live_migrate.yml aborted by its completion timeout", "completion timeout: aborted")
    check(domstate(URI1, l1_uuid) == "running" and domstate(URI2, l1_uuid) is None,
          "after the abort %s runs here only" % l1, (domstate(URI1, l1_uuid), domstate(URI2, l1_uuid)))
    there, here = OVS2.wired(), OVS1.wired()
    check(there == dict(port=None, spoof_flows=False, queue_flows=False, htb=[]),
          "after the abort the second host has nothing of the VIF (port, flows, queue)", there)
    check(here["port"] and here["port"]["ofport"] > 0 and here["spoof_flows"] and here["queue_flows"] and here["htb"],
          "after the abort the VIF is wired here as before", here)
    run = books.run("live_migrate", "--limit", l1, extra=dict(storage="shared"))
    check.run_failed(run, "live_migrate.yml without dest, storage shared: no candidate passes",
                     "No destination passes the pre-checks for domain %s: %s - The instance directory" % (l1, URI2))
    check(DEAD + " - does not answer" in run.msg and URI1 not in run.msg.split("pre-checks")[1],
          "the refusal names the candidate that does not answer, and not the source", run.msg[:600])
    check(domstate(URI1, l1_uuid) == "running", "%s still runs here" % l1, domstate(URI1, l1_uuid))
    run = books.run("live_migrate", "--limit", l1)
    check.run_failed(run, "live_migrate.yml without dest, %s has an OVS VIF: the destination must be named" % l1,
                     "live_migrate_dest")
    check(OVS2.wired() == dict(port=None, spoof_flows=False, queue_flows=False, htb=[]),
          "refused before the second host got anything of the VIF", OVS2.wired())
    before = max(counts(l1_uuid, INST) or [0])
    run = books.run("live_migrate", "--limit", l1, extra=dict(dest=URI2, dest_host=HV2))
    check.run_ok(run, "live_migrate.yml moves libvirt instance %s to the second host" % l1, changed=True)
    there, here = OVS2.wired(), OVS1.wired()
    port = there["port"] or {}
    check(port.get("ofport", -1) > 0 and port.get("ofport") == port.get("ofport_request")
          and port["external_ids"].get("iface-id") == VIF["id"]
          and port["external_ids"].get("attached-mac") == VIF["mac"],
          "the second host has %s's port %s, on the OpenFlow port number reserved before the guest came, with its "
          "external_ids" % (l1, TAP), port)
    check(there["spoof_flows"] and ("in_port=%s," % port.get("ofport")) in OVS2.flows() and there["queue_flows"],
          "the second host has the VIF's anti-spoofing flows (on that port) and its queue flows", there)
    check(len(there["htb"]) == 1 and "ceil 50Mbit" in there["htb"][0],
          "the second host's uplink has the VIF's HTB class %s, ceil 50Mbit" % HTB_CLASS, there["htb"])
    check(here == dict(port=None, spoof_flows=False, queue_flows=False, htb=[]),
          "the first host has nothing of the VIF left (port, flows, queue)", here)
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
    run = books.run("live_migrate", "--limit", x1, extra=dict(leave=hv_a))
    check.run_ok(run, "live_migrate.yml moves XenAPI VM %s off %s to the pool's other host" % (x1, hv_a), changed=True)
    check(pool.where(x1) == (hv_b, "Running"), "%s runs on %s" % (x1, hv_b), pool.where(x1))
    run = books.run("live_migrate", "--limit", l1)
    check.run_ok(run, "live_migrate.yml without dest again: %s is on a candidate already" % l1, changed=False)
    run = books.run("live_migrate", "--limit", l1, extra=dict(dest=URI2))
    check.run_ok(run, "live_migrate.yml again: %s is there already" % l1, changed=False)


def test_evacuate(books, pool, report_dir):
    hv_a, hv_b = pool.hosts
    pool.lock(LATE, LATE_TASK)
    run = books.run("evacuate", extra=dict(
        evacuate_hypervisor=[HV_LIBVIRT, hv_a], evacuate_batch=3, evacuate_report_dir=report_dir))
    check.run_failed(run, "evacuate.yml with an instance that is not there", GHOST)
    with open(os.path.join(report_dir, "evacuate-latest.json")) as handle:
        report = json.load(handle)
    moved = dict((e["host"], e) for e in report["moved"])
    movers = sorted(list(LIBVIRT)[1:] + XEN[1:4])
    check(sorted(moved) == movers, "the report lists the 5 instances moved", sorted(moved))
    check(all(e["dest"] == (URI2 if e["driver"] == "libvirt" else hv_b) and float(e["duration"]) > 0
              and e["state"] == "running" and e["source"] in (HV_LIBVIRT, hv_a) for e in moved.values()),
          "each moved instance: from, to, running there, a duration", report["moved"])
    check(all(str(e["chosen"]).startswith((URI2 if e["driver"] == "libvirt" else hv_b) + ": ")
              and ("(1 refused)" if e["driver"] == "libvirt" else "(0 refused)") in str(e["chosen"])
              for e in moved.values()),
          "each move says why there (libvirt: the candidate that does not answer refused)",
          [e["chosen"] for e in moved.values()])
    check(all(moved[h]["downtime_ms"] not in (None, "") for h in list(LIBVIRT)[1:]),
          "libvirt moves report libvirt's downtime", [moved[h]["downtime_ms"] for h in list(LIBVIRT)[1:] if h in moved])
    skipped = report["skipped"]
    check([e["host"] for e in skipped] == [BUSY, LATE] and WHY in skipped[0]["why"] and LATE_WHY in skipped[1]["why"],
          "the locked instances are skipped, with their operation (%s locked after the inventory was read)" % LATE,
          skipped)
    failed = report["failed"]
    check([e["host"] for e in failed] == [GHOST] and failed[0]["msg"], "the missing one did not move, and why",
          failed)
    check(report["summary"]["found"] == 7 and report["summary"]["skipped"] == 2 and not report["summary"]["ok"]
          and not report["pending"], "summary: 7 found (the busy one apart), 2 skipped, not ok", report["summary"])
    with open(os.path.join(report_dir, "evacuate-latest.html")) as handle:
        page = handle.read()
    check(all(h in page for h in movers + [BUSY, LATE, GHOST]) and WHY in page and LATE_WHY in page,
          "the HTML report names every instance and the locks' operations")
    for name in list(LIBVIRT)[1:]:
        check(domstate(URI2, LIBVIRT[name]) == "running" and domstate(URI1, LIBVIRT[name]) is None,
              "%s runs on the second libvirt host only" % name)
    for name in XEN[1:4]:
        check(pool.where(name) == (hv_b, "Running"), "%s runs on %s" % (name, hv_b), pool.where(name))
    check(pool.where(BUSY) == (hv_a, "Running"), "the locked %s still runs on %s" % (BUSY, hv_a))
    check(pool.where(LATE) == (hv_a, "Running"), "the locked %s still runs on %s" % (LATE, hv_a))


def pool_b():
    s = XenAPI.Session(E["XENAPI_POOL_B_HTTP_URL"])
    s.xenapi.login_with_password("root", E["XENAPI_POOL_B_PASSWORD"])
    return s.xenapi


def on_pool_b(name):
    """(power state, memory MiB) of each VM of that name on pool b."""
    x = pool_b()
    return [(x.VM.get_power_state(vm), int(x.VM.get_memory_static_max(vm)) // 2 ** 20)
            for vm in x.VM.get_by_name_label(name)]


def cold_vars():
    """evacuate_cold for both drivers: libvirt to the second host over its sshd, XenAPI to pool b over the beds'."""
    return dict(instances_path=INST, dest_instances_path=INST2, shutdown_timeout=2, ssh=dict(
        host=E["NOVAOPS_LIBVIRT2_ADDRESS"], user="root", private_key_file=E["NOVAOPS_SSH_KEY"],
        known_hosts_file=E["NOVAOPS_LIBVIRT2_KNOWN_HOSTS"]), xenapi=dict(
            pool=dict(url=E["XENAPI_POOL_B_URL"], username="root", password=E["XENAPI_POOL_B_PASSWORD"],
                      ca_path=E["XENAPI_CA_PATH"]),
            sr=E["XENAPI_POOL_B_SR_UUID"], template="Debian Bookworm 12",
            ssh=dict(host=E["NOVAOPS_SSH_HOST"], port=int(E["NOVAOPS_SSH_PORT"]), user=E["NOVAOPS_SSH_USER"],
                     private_key_file=E["NOVAOPS_SSH_KEY"], known_hosts_file=E["NOVAOPS_SSH_KNOWN_HOSTS"])))


def test_cold_fallback(books, pool, hosts, report_dir):
    hv_a = pool.hosts[0]
    hosts[COLD_XEN] = xen_host(pool, COLD_XEN, pool.boot(COLD_XEN, hv_a, COLD_XEN_MIB), hv_a)
    hosts[GHOST]["evacuate_cold"] = dict(shutdown_timeout=2)       # no xenapi part: not moved cold
    inventory(books.inventory, hosts, [BUSY], evacuate_cold=cold_vars())
    started = time.time()
    run = books.run("evacuate", extra=dict(
        evacuate_hypervisor=[HV_COLD, hv_a], evacuate_libvirt_dest=URI2, evacuate_libvirt_storage="shared",
        evacuate_cold_fallback=True, evacuate_report_dir=report_dir))
    print("the cold fallback run: %.1f s" % (time.time() - started), flush=True)
    check.run_failed(run, "evacuate.yml with the cold fallback and a VM that is not there", GHOST)
    with open(os.path.join(report_dir, "evacuate-latest.json")) as handle:
        report = json.load(handle)
    moved = dict((e["host"], e) for e in report["moved"])
    check(sorted(moved) == sorted([COLD[0], COLD_XEN]) and all(e["how"] == "cold" for e in moved.values()),
          "%s and %s moved cold" % (COLD[0], COLD_XEN), report["moved"])
    cold, cold_xen = moved.get(COLD[0], {}), moved.get(COLD_XEN, {})
    check(cold.get("dest") == URI2 and "is not shared with the destination" in cold.get("why", "")
          and cold.get("state") == "running", "%s: to the second host, running, and why not live" % COLD[0], cold)
    check(cold_xen.get("dest") == E["XENAPI_POOL_B_URL"] and "the VM needs %d MiB" % COLD_XEN_MIB in cold_xen.get("why", "")
          and cold_xen.get("state") == "running", "%s: to pool b, running, and why not live (memory)" % COLD_XEN,
          cold_xen)
    check(domstate(URI2, COLD[1]) == "running" and domstate(URI1, COLD[1]) is None
          and not os.path.exists(os.path.join(INST, COLD[1])),
          "%s runs on the second host; nothing of it is left here (confirmed)" % COLD[0],
          (domstate(URI1, COLD[1]), domstate(URI2, COLD[1])))
    check(on_pool_b(COLD_XEN) == [("Running", COLD_XEN_MIB)] and pool.where(COLD_XEN) == (None, None)
          and pool.where(COLD_XEN + "-orig") == (None, None),
          "%s runs on pool b with its memory; nothing of it is left on pool a (confirmed)" % COLD_XEN,
          (on_pool_b(COLD_XEN), pool.where(COLD_XEN), pool.where(COLD_XEN + "-orig")))
    failed = report["failed"]
    missing = "evacuate_cold.xenapi.pool.url (the destination pool)"
    check([e["host"] for e in failed] == [GHOST] and "Not moved cold" in failed[0]["msg"] and missing in failed[0]["msg"]
          and failed[0]["how"] == "live, then cold", "the XenAPI VM without evacuate_cold.xenapi: not moved cold, "
          "and the report names the missing variables", failed)
    with open(os.path.join(report_dir, "evacuate-latest.html")) as handle:
        page = handle.read()
    check(report["cold_fallback"] and "cold fallback: asked" in page and "why not live" in page
          and "Not moved cold" in page, "the HTML report shows the cold fallback and why")


def remove_xen(pool):
    """This run's VMs gone from pool a (or the private pool, stopped) and pool b."""
    for name in XEN + [COLD_XEN, COLD_XEN + "-orig", COLD_XEN + "-resize"]:
        pool.remove(name)
    pool.stop()
    x = pool_b()
    for name in (COLD_XEN, COLD_XEN + "-resize"):
        for vm in x.VM.get_by_name_label(name):
            destroy_vm(x, vm)


def main():
    if not URI2 or not OVS2.db:
        check(False, "NOVAOPS_LIBVIRT2_URI and NOVAOPS_LIBVIRT2_OVS_DB are in .beds/env.sh (make beds starts the "
              "second libvirt host with its Open vSwitch)")
        check.exit()
    work = tempfile.mkdtemp(prefix=TAG + "-")
    books = Playbooks(os.path.join(work, "inventory.json"), os.path.join(work, "logs"))
    pool = None
    finished = False
    try:
        for ovs in (OVS1, OVS2):
            ovs.setup()
        for name, uuid in list(LIBVIRT.items()) + [COLD]:
            # the first: its VIF, and 10 MiB in its overlay (copied at 1 MiB/s by the aborted run: past its 6 s)
            first = name == list(LIBVIRT)[0]
            subprocess.run([sys.executable, GUEST, "boot", INST, name, uuid, "10" if first else "2", ""]
                           + ([json.dumps(VIF)] if first else []), check=True)
        pool = Pool(work)
        xen_uuids = dict((name, pool.boot(name, pool.hosts[0])) for name in XEN)
        l1, x1 = list(LIBVIRT)[0], XEN[0]
        hosts = dict((n, libvirt_host(n, u, HV_LIBVIRT)) for n, u in LIBVIRT.items())
        hosts[COLD[0]] = libvirt_host(COLD[0], COLD[1], HV_COLD)
        hosts.update((n, xen_host(pool, n, u, pool.hosts[0], TASK if n == BUSY else None))
                     for n, u in xen_uuids.items())
        hosts[GHOST] = xen_host(pool, GHOST, "", pool.hosts[0])
        inventory(books.inventory, hosts, [BUSY])
        test_live_migrate(books, pool, l1, x1)
        # as the inventory plugins read them now: the two moved are on other hypervisors
        hosts[l1]["novaops_hypervisor"], hosts[x1]["novaops_hypervisor"] = URI2, pool.hosts[1]
        inventory(books.inventory, hosts, [BUSY])
        test_evacuate(books, pool, os.path.join(work, "reports"))
        # as the inventory plugins read them now: the moved ones are on other hypervisors
        for name in list(LIBVIRT)[1:]:
            hosts[name]["novaops_hypervisor"] = URI2
        for name in XEN[1:4]:
            hosts[name]["novaops_hypervisor"] = pool.hosts[1]
        test_cold_fallback(books, pool, hosts, os.path.join(work, "cold-reports"))
        finished = True
    finally:
        for uuid in list(LIBVIRT.values()) + [COLD[1]]:
            for uri in (URI1, URI2):
                subprocess.run([sys.executable, GUEST, "remove", uri, uuid], check=False)
            subprocess.run(["rm", "-rf", os.path.join(INST, uuid), os.path.join(INST2, uuid),
                            os.path.join(INST, uuid + "_resize")],
                           check=False)
        for name in list(LIBVIRT) + [COLD[0]]:
            subprocess.run(["rm", "-f", os.path.join(INST, "_base", name + "-base"),
                            os.path.join(INST2, "_base", name + "-base")], check=False)
        for ovs in (OVS1, OVS2):
            ovs.teardown()
        if pool is not None:
            remove_xen(pool)
        if finished and not check.failures:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("logs in %s" % work, flush=True)
    check.exit()


if __name__ == "__main__":
    main()

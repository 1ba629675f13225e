# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The XenAPI half of the fault campaign: every role, a simulator fault on one XenAPI call at a time.

Two private simulator pools (their faults disturb nobody) stand for the source and destination
of a resize.  For each cell a fault is armed on one XenAPI call (the simulator's /sim fault API),
the playbook runs, and then: the fault really fired, the run failed with a message (or recovered),
the instance's files are intact, no VBD is left plugged to a helper VM, no snapshot VDI is left,
no Glance image of the campaign is left non-active; the same playbook, run again, converges.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from campaign import E, TAG, add_row, check, glance_half_made, repo_root
from roles_lib import Playbooks, disk, write_inventory

NAME = TAG + "-1"
TEMPLATE = "fc-tmpl-64"


class PrivatePool:
    """A simulator pool of this run only, over HTTPS with the beds' certificate."""

    def __init__(self, letter, root, password):
        tools = os.path.join(repo_root(), "tools")
        if tools not in sys.path:
            sys.path.insert(0, tools)
        from xapisim import testkit  # pylint: disable=import-outside-toplevel
        self.testkit = testkit
        ca_dir = os.path.dirname(E["XENAPI_CA_PATH"])
        state = os.path.join(root, "pool-" + letter.lower())
        self.log = open(os.path.join(root, "xapisim-%s.log" % letter), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xapisim", "serve", "--name", "%s-%s" % (TAG, letter), "--host", "127.0.0.1",
             "--port", "0", "--https-port", "0", "--cert", os.path.join(ca_dir, "server.pem"),
             "--key", os.path.join(ca_dir, "server.key"), "--state-dir", state, "--password", password],
            env=dict(E, PYTHONPATH=tools), stdout=self.log, stderr=subprocess.STDOUT)
        ready = os.path.join(state, "ready.json")
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the private simulator %s did not start (see %s)" % (letter, self.log.name))
            time.sleep(0.1)
        time.sleep(0.2)
        with open(ready) as handle:
            self.facts = json.load(handle)
        # instance_disk.py and the testkit find pool <letter> by these
        E.update({"XENAPI_POOL_%s_URL" % letter: self.facts["https"],
                  "XENAPI_POOL_%s_USERNAME" % letter: "root",
                  "XENAPI_POOL_%s_PASSWORD" % letter: password,
                  "XENAPI_POOL_%s_HELPER_VM_UUID" % letter: self.facts["helper_vm"],
                  "XENAPI_POOL_%s_DEVICE_DIR" % letter: self.facts["device_dir"],
                  "XENAPI_POOL_%s_SR_UUID" % letter: self.facts["sr"],
                  "XENAPI_POOL_%s_SR_DIR" % letter: os.path.join(state, "sr", self.facts["sr"])})
        self.letter = letter

    def sim(self, name, *args):
        return self.testkit.sim_call(self.facts["http"], name, *args)

    def session(self):
        return self.testkit.login(self.letter, dict(E))

    def leftovers(self):
        """VBDs plugged to the helper VM, snapshot VDIs: what a failed step must not leave."""
        session = self.session()
        x = session.xenapi
        try:
            helper = x.VM.get_by_uuid(self.facts["helper_vm"])
            plugged = [r["uuid"] for r in x.VBD.get_all_records().values()
                       if r["VM"] == helper and r["currently_attached"]]
            snapshots = [r["uuid"] for r in x.VDI.get_all_records().values() if r["is_a_snapshot"]]
            return plugged, snapshots
        finally:
            x.session.logout()

    def power(self, name):
        session = self.session()
        x = session.xenapi
        try:
            vms = [v for v in x.VM.get_by_name_label(name) if not x.VM.get_is_a_template(v)]
            return [x.VM.get_power_state(v) for v in vms]
        finally:
            x.session.logout()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class XenapiCampaign:
    def __init__(self, pb, pools):
        self.pb, self.pools = pb, pools
        self.ref = None
        self.helper_own = dict((letter, pool.leftovers()[0]) for letter, pool in pools.items())  # its own disks

    def cell(self, operation, step, playbook, fault, extra=None, where="A", fault_where="A", runs=None, gap=None):
        """Arm fault = (pool, method, nth), run the playbook, check what is left, re-run, check it converged.

        where / fault_where: the pool the instance's disk is on after the re-run / after a refused run;
        runs = (pool, VM name) that must run afterwards.  gap = (the re-run's failure message, or None when it
        succeeds without the instance running; what it leaves; the playbook that brings the instance back): a
        known place where the re-run alone does not converge, shown as GAP.
        """
        pool, method, nth = fault
        failures_before = len(check.failures)
        what = "%s / xenapi / %s (call %d on pool %s)" % (operation, method, nth, pool)
        self.pools[pool].sim("fault_add", method, ["INTERNAL_ERROR", "fc injected fault"], nth, 1)
        try:
            run = self.pb.run(playbook, extra=extra)
            fired = sum(f.get("fired", 0) for f in self.pools[pool].sim("faults"))
        finally:
            self.pools[pool].sim("faults_clear")
        check(fired > 0, "%s: the fault fired" % what)
        if run.failed:
            outcome = "refused: " + (run.messages[0] if run.messages else "(no message)")[:90]
            check(bool(run.messages) and "Traceback" not in run.msg, "%s: refused with a message" % what, run.log)
        else:
            outcome = "recovered (the module retried)"
        self.after(what, where if not run.failed else fault_where)
        again = self.pb.run(playbook, extra=extra)
        running = self.running(*runs) if runs else True
        if gap and not (running and not again.failed):
            message, left, recovery = gap
            check(message in again.msg if message else not again.failed and not running,
                  "%s: the re-run stops where it is known to (%s)" % (what, left), again)
            check.run_ok(self.pb.run(recovery), "%s: %s brings it back" % (what, recovery))
            outcome += " | GAP: the re-run %s; %s recovers it" % (left, recovery)
            running = self.running(*runs) if runs else True
        else:
            check.run_ok(again, "%s: the re-run converges" % what)
        check(running, "%s: %s runs on pool %s" % (what, runs and runs[1], runs and runs[0]))
        self.after(what + ", re-run", where)
        add_row(operation, "xenapi", step + " [" + method + "#%d]" % nth, outcome, failures_before)

    def running(self, letter, name):
        return self.pools[letter].power(name) == ["Running"]

    def after(self, what, where="A"):
        for letter, pool in sorted(self.pools.items()):
            plugged, snapshots = pool.leftovers()
            plugged = sorted(set(plugged) - set(self.helper_own[letter]))
            check(not plugged, "%s: no VBD plugged to pool %s's helper VM" % (what, letter), plugged)
            check(not snapshots, "%s: no snapshot VDI left on pool %s" % (what, letter), snapshots)
        check(not glance_half_made(), "%s: no half-made Glance image" % what, glance_half_made())
        if self.ref is not None:
            got = disk("xen-sum", where, NAME)
            check(got["sum"] == self.ref and got["fsck_rc"] == 0,
                  "%s: the instance's files are intact on pool %s" % (what, where), got)


def scenario(pb, pools):
    c = XenapiCampaign(pb, pools)
    # boot: the VM made from the template, then started
    c.cell("boot", "start the new VM", "boot", ("A", "VM.start", 1), runs=("A", NAME))
    c.ref = disk("xen-fill", "A", NAME, 8)["sum"]      # the guest's files, checked after every cell from here

    # snapshot into Glance
    c.cell("snapshot", "snapshot the root disk", "snapshot", ("A", "VDI.snapshot", 1),
           extra=dict(image_name=TAG + "-snap"))
    c.cell("snapshot", "upload to Glance (glance plugin)", "snapshot", ("A", "host.call_plugin", 1),
           extra=dict(image_name=TAG + "-snap2"))
    for image in (TAG + "-snap", TAG + "-snap2"):
        ids = disk("glance-images", image)["ids"]
        check(len(ids) == 1, "snapshot: after the fault and the re-run, one active image %s in Glance" % image, ids)

    # rescue, unrescue
    rescued = ("A", NAME + "-rescue")
    c.cell("rescue", "shut the instance down", "rescue", ("A", "VM.clean_shutdown", 1), runs=rescued)
    c.cell("unrescue", "destroy the rescue VM", "unrescue", ("A", "VM.destroy", 1), runs=("A", NAME))
    c.cell("rescue", "start the rescue VM", "rescue", ("A", "VM.start", 1), runs=rescued)
    # the rescue VM is gone once the instance fails to start: unrescue has nothing left to go by
    c.cell("unrescue", "start the instance again", "unrescue", ("A", "VM.start", 1), runs=("A", NAME),
           gap=("is not in rescue", "refuses: not in rescue, instance halted", "hard_reboot"))

    # hard reboot
    c.cell("hard_reboot", "hard reboot", "hard_reboot", ("A", "VM.hard_reboot", 1), runs=("A", NAME))

    # resize up to pool b, then revert; resize down to pool b, then confirm
    up = dict(flavor=dict(vcpus=2, memory_mb=512, root_mb=96))
    c.cell("resize up", "send the disks (transfer plugin)", "resize", ("A", "host.call_plugin", 1), extra=up,
           where="B", runs=("B", NAME))
    # the original is renamed back before its start fails: a re-run finds nothing to revert
    c.cell("resize revert", "start the original", "resize", ("A", "VM.start", 1), extra=dict(action="revert"),
           runs=("A", NAME), gap=(None, "succeeds, original left halted", "hard_reboot"))
    down = dict(flavor=dict(vcpus=1, memory_mb=256, root_mb=48))
    c.cell("resize down", "shrink the root disk (helper VBD)", "resize", ("A", "VBD.plug", 1), extra=down,
           where="B", runs=("B", NAME))
    c.cell("resize confirm", "destroy the original", "resize", ("A", "VM.destroy", 1), extra=dict(action="confirm"),
           where="B", fault_where="B", runs=("B", NAME))


def run(root, secrets):
    """The XenAPI cells; returns the directory of its runs' output (for the secrets check)."""
    password = secrets["the pools' password"]
    pools = {}
    try:
        for letter in ("A", "B"):
            pools[letter] = PrivatePool(letter, root, password)
        E.update(XENAPI_URL=E["XENAPI_POOL_A_URL"], XENAPI_USERNAME="root", XENAPI_PASSWORD=password,
                 XENAPI_HELPER_VM_UUID=E["XENAPI_POOL_A_HELPER_VM_UUID"], XENAPI_SR_UUID=E["XENAPI_POOL_A_SR_UUID"],
                 XENAPI_DEVICE_DIR=E["XENAPI_POOL_A_DEVICE_DIR"])
        for letter in pools:
            disk("xen-template", letter, TEMPLATE, 64)
        ssh = dict(host=E["NOVAOPS_SSH_HOST"], port=int(E["NOVAOPS_SSH_PORT"]), user=E["NOVAOPS_SSH_USER"],
                   private_key_file=E["NOVAOPS_SSH_KEY"], known_hosts_file=E["NOVAOPS_SSH_KNOWN_HOSTS"])
        inventory = write_inventory(os.path.join(root, "inventory.json"), {
            NAME: dict(compute_driver="xenapi", instance_template=TEMPLATE,
                       instance_rescue_template="Debian Bookworm 12", instance_flavor=dict(vcpus=1, memory_mb=256),
                       xenapi_url=E["XENAPI_POOL_A_URL"], resize_ssh=ssh,
                       resize_dest_xenapi=dict(url=E["XENAPI_POOL_B_URL"], password=password),
                       resize_dest_sr=E["XENAPI_POOL_B_SR_UUID"], resize_shutdown_timeout=5, resize_timeout=120)},
            dict(glance=dict(project_id="nt-ro", roles=["admin"])))
        pb = Playbooks(inventory, os.path.join(root, "runs"), env=dict(E))
        scenario(pb, pools)
        return pb.log_dir
    finally:
        for pool in pools.values():
            pool.stop()

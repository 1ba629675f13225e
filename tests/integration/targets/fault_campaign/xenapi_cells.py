# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The XenAPI half of the fault campaign: every role, one fault at a time at one of its external steps.

Two private simulator pools (their faults disturb nobody) stand for the source and destination
of a resize; a Glance and an sshd of the campaign's own (PrivateBeds) are the snapshots' image
service (reached with a token, which no run may show) and the resize's transfer host.  A fault is a
simulator fault on one XenAPI call (the /sim fault API), a 503 once from a proxy in front of Glance,
or Glance / sshd SIGKILLed the moment the upload / rsync is in flight.  After it: the fault really
fired, the run failed with a message (or recovered), the instance's files are intact, no VBD is left
plugged to a helper VM, no snapshot VDI and no staging directory is left in either SR, no Glance image
of the campaign is left non-active; the same playbook, run again, converges, the instance runs on one pool
only, and neither pool has a disk more that no VM uses (an orphan VDI) than before the cell.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid

from campaign import E, TAG, add_row, check, glance_half_made, glance_images, repo_root, stop_process
from libvirt_faults import Watcher, image_saving
from private_beds import PrivateBeds, descendants
from roles_lib import Playbooks, disk, write_inventory

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "connection_faults"))
from glance_proxy import GlanceProxy  # noqa: E402 pylint: disable=wrong-import-position

NAME = TAG + "-1"
NAME2 = TAG + "-img"
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
        self.letter, self.password = letter, password

    def sim(self, name, *args):
        return self.testkit.sim_call(self.facts["http"], name, *args)

    @contextlib.contextmanager
    def api(self):
        """The pool's XenAPI (``session.xenapi``), logged out when the block ends."""
        x = self.testkit.login(self.letter, dict(E)).xenapi
        try:
            yield x
        finally:
            x.session.logout()

    def leftovers(self):
        """VBDs plugged to the helper VM, snapshot VDIs (those marked for xen_snapshot's next run apart):
        what a failed step must not leave."""
        with self.api() as x:
            helper = x.VM.get_by_uuid(self.facts["helper_vm"])
            plugged = [r["uuid"] for r in x.VBD.get_all_records().values()
                       if r["VM"] == helper and r["currently_attached"]]
            snapshots = [(r["uuid"], r["other_config"].get("novaops_snapshot_by") == "xen_snapshot")
                         for r in x.VDI.get_all_records().values() if r["is_a_snapshot"]]
            return plugged, [u for u, marked in snapshots if not marked], [u for u, marked in snapshots if marked]

    def unused_vdis(self):
        """Disks no VM uses: VDIs of a user SR in no VBD (snapshots and hidden base copies apart, they are
        checked elsewhere or the GC's). A step that failed between a VM's destroy and its disks' leaves one."""
        with self.api() as x:
            used = set(r["VDI"] for r in x.VBD.get_all_records().values())
            user_srs = set(ref for ref, r in x.SR.get_all_records().items() if r["content_type"] != "iso")
            # a cached Glance image (xen_image's, marked novaops_image_id) is in no VBD by design: its clones read it
            return sorted(r["uuid"] for ref, r in x.VDI.get_all_records().items()
                          if ref not in used and r["SR"] in user_srs and r["managed"] and not r["is_a_snapshot"]
                          and "novaops_image_id" not in r["other_config"])

    def power(self, name):
        with self.api() as x:
            vms = [v for v in x.VM.get_by_name_label(name) if not x.VM.get_is_a_template(v)]
            return [x.VM.get_power_state(v) for v in vms]

    def staged(self):
        """What a transfer or an upload staged in the SR and left (the plugins stage in <SR>/.novaops-staging)."""
        root = os.path.join(E["XENAPI_POOL_%s_SR_DIR" % self.letter], ".novaops-staging")
        return sorted(os.listdir(root)) if os.path.isdir(root) else []

    def destroy(self, name):
        """The VM and its disks gone, as if it had never been booted."""
        with self.api() as x:
            for vm in x.VM.get_by_name_label(name):
                if x.VM.get_power_state(vm) != "Halted":
                    x.VM.hard_shutdown(vm)
                vdis = [x.VBD.get_VDI(vbd) for vbd in x.VM.get_VBDs(vm) if x.VBD.get_type(vbd) == "Disk"]
                x.VM.destroy(vm)
                for vdi in vdis:
                    x.VDI.destroy(vdi)

    def drop_cached_image(self, image_id):
        """The cached copy of a Glance image gone from the SR (xen_image state=absent would do the same)."""
        with self.api() as x:
            for ref, rec in x.VDI.get_all_records().items():
                if rec["other_config"].get("novaops_image_id") == image_id:
                    x.VDI.destroy(ref)

    def stop(self):
        stop_process(self.proc, 60)
        self.log.close()


class SimFault:
    """A simulator fault: the nth call of method on a pool fails INTERNAL_ERROR."""

    def __init__(self, pool, method, nth=1):
        self.pool, self.method, self.nth = pool, method, nth
        self.label = "%s#%d" % (method, nth) + ("" if pool == "A" else " on B")
        self.what = "%s (call %d on pool %s)" % (method, nth, pool)
        self.fired, self.detail = False, None

    def arm(self, pools):
        self.pools = pools
        pools[self.pool].sim("fault_add", self.method, ["INTERNAL_ERROR", "fc injected fault"], self.nth, 1)

    def disarm(self):
        self.fired = sum(f.get("fired", 0) for f in self.pools[self.pool].sim("faults")) > 0
        self.pools[self.pool].sim("faults_clear")


class ShutdownIgnored(SimFault):
    """The instance's guest ignores a clean shutdown (the simulator fails it VM_SHUTDOWN_TIMEOUT after its
    shutdown timeout) and the nth VM.hard_shutdown, the fallback after that timeout, fails."""

    def __init__(self, pool, vm_name, nth=1):
        super().__init__(pool, "VM.hard_shutdown", nth)
        self.vm_name = vm_name
        self.label = "VM.hard_shutdown#%d after a clean shutdown timed out" % nth
        self.what = "VM.hard_shutdown (call %d on pool %s) after the guest ignored the clean shutdown" % (nth, pool)
        self.vm_uuid = None

    def arm(self, pools):
        with pools[self.pool].api() as x:
            vms = [v for v in x.VM.get_by_name_label(self.vm_name) if not x.VM.get_is_a_template(v)]
            self.vm_uuid = x.VM.get_uuid(vms[0])
        pools[self.pool].sim("guest_ignores_shutdown", self.vm_uuid, True)
        super().arm(pools)

    def disarm(self):
        self.pools[self.pool].sim("guest_ignores_shutdown", self.vm_uuid, False)
        super().disarm()


class Kill:
    """A private bed SIGKILLed the moment condition holds (a Watcher, while the run goes), started again
    at once: the step in flight loses its server, what comes after finds it back."""

    def __init__(self, beds, bed, condition, label):
        self.label, self.what = label, label
        self.fired, self.detail = False, None

        def kill(seen):
            killed = beds.kill(bed)
            beds.start(bed)
            return "%s: %d processes SIGKILLed (%s), started again" % (bed, killed, seen)
        self.watcher = Watcher(label, condition, kill)

    def arm(self, _pools):
        self.watcher.__enter__()

    def disarm(self):
        self.watcher.__exit__(None, None, None)
        self.fired, self.detail = self.watcher.fired, self.watcher.detail or self.watcher.error


class Glance503:
    """The image upload (PUT .../file) answered 503 once by a proxy in front of the campaign's Glance."""

    label = what = "Glance 503 once on the upload"

    def __init__(self, proxy):
        self.proxy = proxy
        self.fired, self.detail, self.answers = False, None, []

    def arm(self, _pools):
        self.proxy.clear()
        self.proxy.fail("PUT", r"/file$", "before")

    def disarm(self):
        self.answers = [status for _m, _p, status in self.proxy.requests("PUT", r"/file$")]
        self.fired, self.detail = self.answers[:1] == [503], "PUT answers %s" % self.answers
        self.proxy.clear()


# The campaign's Glance proxy holds an image download once this much is out: more than three of the
# plugin's 960 KiB reads, so it has written image data, and the image (over 4 MiB) has more to come.
HOLD_AT = 3 * 1024 * 1024


class HeldDownload:
    """A fault that lands mid-download, however fast or loaded the machine: the image comes through the
    campaign's Glance proxy, held once HOLD_AT bytes are out until dom0's staging directory holds image
    data; ``act`` runs then, with the rest of the image still to come.  (A watcher polling alone was
    late once on a loaded machine: the download was over before the fault.)"""

    cut = False     # whether the proxy drops the connection after ``act`` (the server is gone)

    def __init__(self, letter, proxy):
        self.letter, self.proxy = letter, proxy
        self.fired, self.detail, self.error = False, None, None

    def gate(self, sent, total):
        try:
            seen, deadline = None, time.monotonic() + 60
            while not seen and time.monotonic() < deadline:
                seen = downloading(self.letter)() or time.sleep(0.02)
            if not seen:
                raise RuntimeError("no image data reached the staging directory in 60 s")
            self.detail = "%s; %s; %d of the image's %d bytes still to come" % (seen, self.act(), total - sent, total)
            self.fired = True
        except Exception as exc:  # pylint: disable=broad-except
            self.error = "%s: %s" % (type(exc).__name__, exc)
        return "cut" if self.cut else None

    def act(self):
        raise NotImplementedError

    def arm(self, _pools):
        self.proxy.clear()
        self.proxy.pace("GET", r"/file$", self.gate, HOLD_AT)

    def disarm(self):
        self.proxy.clear()
        if not self.fired:
            self.detail = self.error or "the download never passed %d bytes" % HOLD_AT


class GlanceKilledMidDownload(HeldDownload):
    """Glance SIGKILLed mid-download and started again at once: the download in flight is cut (the
    proxy passes the cut on), what comes after finds Glance back."""

    label = what = "Glance killed mid-download"
    cut = True

    def __init__(self, letter, proxy, beds):
        super().__init__(letter, proxy)
        self.beds = beds

    def act(self):
        killed = self.beds.kill("glance")
        self.beds.start("glance")
        return "glance: %d processes SIGKILLed, started again" % killed


class SrFull(HeldDownload):
    """The SR's filesystem fills up while dom0's download_vhd unpacks into it (as when other disks of the
    SR grow meanwhile): a tmpfs over the SR's staging root, shrunk to what it holds while the download
    is held.  The plugin's free-space check before the download passed; the next write meets ENOSPC
    mid-stream."""

    label = what = "the SR's filesystem full mid-download"

    def __init__(self, letter, proxy):
        super().__init__(letter, proxy)
        self.root = os.path.join(E["XENAPI_POOL_%s_SR_DIR" % letter], ".novaops-staging")

    def act(self):
        for _attempt in range(50):
            vfs = os.statvfs(self.root)
            used = (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize
            if subprocess.run(["mount", "-o", "remount,size=%d" % max(used, 4096), self.root],
                              capture_output=True, check=False).returncode == 0:
                return "the filesystem shrunk to the %d bytes it held" % used
        raise RuntimeError("the staging tmpfs could not be shrunk to what it holds")

    def arm(self, pools):
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,mode=0700", TAG + "-srfull", self.root], check=True)
        super().arm(pools)

    def disarm(self):
        super().disarm()
        subprocess.run(["umount", self.root], check=True)


def rsync_under(beds):
    """A condition: an rsync runs in a session of the private sshd (a transfer is on); gives its pid."""
    def condition():
        for pid in [p for sshd in beds.pids("sshd") for p in descendants(sshd)]:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as handle:
                    if handle.read().split(b"\0")[0].endswith(b"rsync"):
                        return "rsync %d ran" % pid
            except OSError:
                continue
        return None
    return condition


def downloading(letter):
    """A condition: dom0's download_vhd has written image data into its staging directory in the SR."""
    def condition():
        root = os.path.join(E["XENAPI_POOL_%s_SR_DIR" % letter], ".novaops-staging")
        for name in (os.listdir(root) if os.path.isdir(root) else []):
            if not name.startswith("glance-down-"):
                continue
            try:
                sizes = [os.path.getsize(os.path.join(root, name, f)) for f in os.listdir(os.path.join(root, name))]
            except OSError:
                continue
            if sum(sizes) > 0:
                return "%s held %d bytes" % (name, sum(sizes))
        return None
    return condition


class XenapiCampaign:
    def __init__(self, pb, pools, glance):
        self.pb, self.pools, self.glance = pb, pools, glance
        self.glance_url = glance["url"]
        self.ref = None
        self.helper_own = dict((letter, pool.leftovers()[0]) for letter, pool in pools.items())  # its own disks

    def cell(self, operation, step, playbook, fault, extra=None, where="A", fault_where="A", runs=None, mid=None,
             marked_ok=False):
        """Arm fault (SimFault, Kill, Glance503), run the playbook, check what is left, re-run, check it converged.

        where / fault_where: the pool (or (pool, VM name)) the instance's disk is on after the re-run / after a
        refused run;
        runs = (pool, VM name) that must run afterwards; mid: a word the refusal names when the fault must
        have hit the step in flight (a kill during a transfer, not before it); marked_ok: a snapshot VDI whose
        destroy failed may be left by the refused run, marked for the next run to destroy.
        """
        failures_before = len(check.failures)
        what = "%s / xenapi / %s" % (operation, fault.what)
        unused_before = dict((letter, pool.unused_vdis()) for letter, pool in self.pools.items())
        fault.arm(self.pools)
        try:
            run = self.pb.run(playbook, extra=extra)
        finally:
            fault.disarm()
        check(fault.fired, "%s: the fault fired%s" % (what, ", " + fault.detail if fault.detail else ""))
        if run.failed:
            outcome = "refused: " + (run.messages[0] if run.messages else "(no message)")[:90]
            check(bool(run.messages) and "Traceback" not in run.msg, "%s: refused with a message" % what, run.log)
            if mid:
                check(mid in run.msg, "%s: the step in flight failed (the refusal names %s)" % (what, mid), run.msg[:500])
        else:
            outcome = "recovered (retried)"
        if marked_ok:
            outcome += " | the marked snapshot VDI destroyed by the re-run"
        self.after(what, where if not run.failed else fault_where, marked_ok)
        check.run_ok(self.pb.run(playbook, extra=extra), "%s: the re-run converges" % what)
        if runs:
            check(self.running(*runs), "%s: %s runs on pool %s, and on no other pool" % (what, runs[1], runs[0]),
                  dict((letter, pool.power(runs[1])) for letter, pool in sorted(self.pools.items())))
        self.after(what + ", re-run", where)
        for letter, pool in sorted(self.pools.items()):
            orphans = sorted(set(pool.unused_vdis()) - set(unused_before[letter]))
            check(not orphans, "%s: no disk on pool %s that no VM uses (an orphan VDI)" % (what, letter), orphans)
        add_row(operation, "xenapi", "%s [%s]" % (step, fault.label), outcome, failures_before)
        return run

    def running(self, letter, name):
        """name runs on pool letter, and no VM of that name runs on another pool (two copies of the instance)."""
        others = [other for other, pool in self.pools.items() if other != letter and "Running" in pool.power(name)]
        return self.pools[letter].power(name) == ["Running"] and not others

    def after(self, what, where="A", marked_ok=False):
        for letter, pool in sorted(self.pools.items()):
            plugged, snapshots, marked = pool.leftovers()
            plugged = sorted(set(plugged) - set(self.helper_own[letter]))
            check(not plugged, "%s: no VBD plugged to pool %s's helper VM" % (what, letter), plugged)
            if marked_ok and marked:
                print("     (left for the re-run: the marked snapshot VDI %s)" % ", ".join(marked))
            else:
                snapshots += marked
            check(not snapshots, "%s: no snapshot VDI left on pool %s" % (what, letter), snapshots)
            staged = pool.staged()
            check(not staged, "%s: no staging directory left in pool %s's SR" % (what, letter), staged)
        half = glance_half_made(self.glance_url)
        check(not half, "%s: no half-made Glance image" % what, half)
        if self.ref is not None:
            letter, name = where if isinstance(where, tuple) else (where, NAME)
            try:
                got = disk("xen-sum", letter, name)
            except RuntimeError as exc:     # no such VM or disk: a check that failed, the next cells still run
                got = dict(sum=None, fsck_rc=None, error=str(exc)[-300:])
            check(got["sum"] == self.ref and got["fsck_rc"] == 0,
                  "%s: the instance's files are intact on pool %s (%s)" % (what, letter, name), got)


def scenario(c, pools, beds, proxy):
    # boot: the new VM's start; then (that VM destroyed) the clone made but not provisioned - the re-run's VM must
    # have its disks (xen-fill writes to its root disk)
    c.cell("boot", "start the new VM", "boot", SimFault("A", "VM.start"), runs=("A", NAME))
    pools["A"].destroy(NAME)
    c.cell("boot", "clone the template", "boot", SimFault("A", "VM.clone"), runs=("A", NAME))
    pools["A"].destroy(NAME)
    c.cell("boot", "provision the clone", "boot", SimFault("A", "VM.provision"), runs=("A", NAME))
    c.ref = disk("xen-fill", "A", NAME, 8)["sum"]      # the guest's files, checked after every cell from here

    # snapshot into Glance: the snapshot, the upload (failed, Glance answering 503 once, Glance killed), the clean-up
    snap = dict(image_name=TAG + "-snap")
    c.cell("snapshot", "snapshot the root disk", "snapshot", SimFault("A", "VDI.snapshot"), extra=snap)
    c.cell("snapshot", "upload to Glance (glance plugin)", "snapshot", SimFault("A", "host.call_plugin"),
           extra=dict(image_name=TAG + "-snap2"))
    once = Glance503(proxy)
    retried = c.cell("snapshot", "upload to Glance (glance plugin)", "snapshot", once,
                     extra=dict(image_name=TAG + "-snap3", glance=dict(c.glance, url=proxy.url)))
    check(not retried.failed and once.answers[:1] == [503] and len(once.answers) == 2 and once.answers[1] < 300,
          "snapshot / xenapi / Glance 503 once: the plugin sent the upload again and the run succeeded", once.answers)
    c.cell("snapshot", "upload to Glance (glance plugin)", "snapshot",
           Kill(beds, "glance", image_saving(c.glance_url), "Glance killed mid-upload"),
           extra=dict(image_name=TAG + "-snap4"), mid="could not upload")
    c.cell("snapshot", "destroy the snapshot VDI", "snapshot", SimFault("A", "VDI.destroy"),
           extra=dict(image_name=TAG + "-snap5"), marked_ok=True)
    for n in ("", "2", "3", "4", "5"):
        ids = [i["id"] for i in glance_images(c.glance_url) if i["name"] == TAG + "-snap" + n and i["status"] == "active"]
        check(len(ids) == 1, "snapshot: after the fault and the re-run, one active image %s-snap%s in Glance" % (TAG, n), ids)

    # rescue, unrescue
    rescued = ("A", NAME + "-rescue")
    c.cell("rescue", "shut the instance down", "rescue", SimFault("A", "VM.clean_shutdown"), runs=rescued)
    c.cell("unrescue", "destroy the rescue VM", "unrescue", SimFault("A", "VM.destroy"), runs=("A", NAME))
    c.cell("rescue", "start the rescue VM", "rescue", SimFault("A", "VM.start"), runs=rescued)
    # the rescue VM is gone when the instance's start fails: the instance's mark says to finish the unrescue
    c.cell("unrescue", "start the instance again", "unrescue", SimFault("A", "VM.start"), runs=("A", NAME))
    c.cell("rescue", "hard-shut the instance (its clean shutdown timed out)", "rescue", ShutdownIgnored("A", NAME),
           runs=rescued)
    c.cell("unrescue", "hard-shut the rescue VM", "unrescue", SimFault("A", "VM.hard_shutdown"), runs=("A", NAME))
    c.cell("rescue", "attach the instance's root to the rescue VM", "rescue", SimFault("A", "VBD.create"), runs=rescued)
    c.cell("unrescue", "destroy the rescue VM's own disk", "unrescue", SimFault("A", "VDI.destroy"), runs=("A", NAME))

    # hard reboot
    c.cell("hard_reboot", "hard reboot", "hard_reboot", SimFault("A", "VM.hard_reboot"), runs=("A", NAME))

    # resize up to pool b and revert, twice; resize down to pool b and confirm
    up = dict(flavor=dict(vcpus=2, memory_mb=512, root_mb=96))
    down = dict(flavor=dict(vcpus=1, memory_mb=256, root_mb=48))
    revert, confirm = dict(action="revert"), dict(action="confirm")
    on_b, on_a = dict(where="B", runs=("B", NAME)), dict(runs=("A", NAME))
    orig = ("A", NAME + "-orig")     # a revert refused on pool b: the copy there goes, the original is the data
    c.cell("resize up", "send the leaf after the shutdown (transfer plugin)", "resize",
           SimFault("A", "host.call_plugin", 2), extra=up, **on_b)
    # the original has its name back before its start fails: its note of the power state says to finish
    c.cell("resize revert", "start the original", "resize", SimFault("A", "VM.start"), extra=revert, **on_a)
    c.cell("resize up", "send the parents (rsync over ssh)", "resize",
           Kill(beds, "sshd", rsync_under(beds), "sshd killed mid-rsync"), extra=up, mid="rsync", **on_b)
    c.cell("resize revert", "destroy the resized instance", "resize", SimFault("B", "VM.destroy"), extra=revert,
           fault_where=orig, **on_a)
    c.cell("resize up", "import the chain into the destination SR (SR.scan)", "resize", SimFault("B", "SR.scan"),
           extra=up, **on_b)
    c.cell("resize revert", "hard-shut the resized instance", "resize", SimFault("B", "VM.hard_shutdown"),
           extra=revert, fault_where=orig, **on_a)
    c.cell("resize up", "grow the root disk (xen_vdi_resize)", "resize", SimFault("B", "VDI.resize"), extra=up, **on_b)
    c.cell("resize revert", "destroy the resized instance's disk", "resize", SimFault("B", "VDI.destroy"), extra=revert,
           fault_where=orig, **on_a)
    # a resize down first reads the filesystem's minimum from a snapshot of the root disk plugged into the helper
    # (VBD.unplug #1), then the shrink inspects the disk itself (#2)
    c.cell("resize down", "check that the filesystem fits (the snapshot unplugged from the helper)", "resize",
           SimFault("A", "VBD.unplug"), extra=down, **on_b)
    c.cell("resize revert", "destroy the resized instance (after the resize down)", "resize",
           SimFault("B", "VM.destroy"), extra=revert, fault_where=orig, **on_a)
    c.cell("resize down", "shrink the root disk (unplug from the helper)", "resize", SimFault("A", "VBD.unplug", 2),
           extra=down, **on_b)
    c.cell("resize confirm", "destroy the original", "resize", SimFault("A", "VM.destroy"), extra=confirm,
           where="B", fault_where="B", runs=("B", NAME))

    # and back from pool b to pool a, shrinking again: the shrink's clone dropped after the copy, the confirm's disk
    back = dict(xenapi_url=E["XENAPI_POOL_B_URL"], resize_dest_sr=E["XENAPI_POOL_A_SR_UUID"],
                resize_dest_xenapi=dict(url=E["XENAPI_POOL_A_URL"], password=pools["A"].password),
                resize_helper=dict(vm_uuid=E["XENAPI_POOL_B_HELPER_VM_UUID"], device_dir=E["XENAPI_POOL_B_DEVICE_DIR"]))
    # (VDI.destroy #1 on pool b is that of the snapshot the fit check read)
    c.cell("resize down", "drop the shrink's clone after the copy", "resize", SimFault("B", "VDI.destroy", 2),
           extra=dict(back, flavor=dict(vcpus=1, memory_mb=256, root_mb=40)), where="A", fault_where="B",
           runs=("A", NAME))
    c.cell("resize confirm", "destroy the original's disk", "resize", SimFault("B", "VDI.destroy"),
           extra=dict(back, action="confirm"), where="A", fault_where="A", runs=("A", NAME))


def image_scenario(c, pools, beds, proxy, image_id):
    """Boot from a Glance image (xen_image: dom0's download_vhd into the SR, then a clone): Glance killed
    mid-download, SR.scan failing after the import, the SR's filesystem full mid-download.  Nothing
    half-imported stays (no staging directory, no VDI no VM uses); the re-run downloads again and boots."""
    only = dict(novaops_instances=NAME2)
    held = dict(only, glance=dict(c.glance, url=proxy.url))      # the download through the proxy that holds it
    boots = dict(where=("A", NAME), runs=("A", NAME2))
    c.cell("boot from an image", "download the image into the SR (glance plugin)", "boot",
           GlanceKilledMidDownload("A", proxy, beds), extra=held, **boots)
    pools["A"].destroy(NAME2)
    pools["A"].drop_cached_image(image_id)
    c.cell("boot from an image", "scan the imported chain in (SR.scan)", "boot", SimFault("A", "SR.scan"),
           extra=only, **boots)
    pools["A"].destroy(NAME2)
    pools["A"].drop_cached_image(image_id)
    c.cell("boot from an image", "unpack the image into the SR (glance plugin)", "boot", SrFull("A", proxy),
           extra=held, mid="ran out of space", **boots)


def run(root, secrets):
    """The XenAPI cells; returns the directory of its runs' output (for the secrets check)."""
    password = secrets["the pools' password"]
    token = uuid.uuid4().hex
    secrets["the XenAPI cells' Glance token"] = token
    pools, beds, proxy = {}, None, None
    try:
        for letter in ("A", "B"):
            pools[letter] = PrivatePool(letter, root, password)
        beds = PrivateBeds(root)            # the Glance and sshd the cells kill
        env = beds.env()
        proxy = GlanceProxy(env["NOVAOPS_GLANCE_URL"])
        E.update(XENAPI_URL=E["XENAPI_POOL_A_URL"], XENAPI_USERNAME="root", XENAPI_PASSWORD=password,
                 XENAPI_HELPER_VM_UUID=E["XENAPI_POOL_A_HELPER_VM_UUID"], XENAPI_SR_UUID=E["XENAPI_POOL_A_SR_UUID"],
                 XENAPI_DEVICE_DIR=E["XENAPI_POOL_A_DEVICE_DIR"])
        for letter in pools:
            disk("xen-template", letter, TEMPLATE, 64)
        ssh = dict(host=env["NOVAOPS_SSH_HOST"], port=int(env["NOVAOPS_SSH_PORT"]), user=env["NOVAOPS_SSH_USER"],
                   private_key_file=env["NOVAOPS_SSH_KEY"], known_hosts_file=env["NOVAOPS_SSH_KNOWN_HOSTS"])
        glance = dict(url=env["NOVAOPS_GLANCE_URL"], token=token, project_id="nt-ro", roles=["admin"])
        hosts = {
            NAME: dict(compute_driver="xenapi", instance_template=TEMPLATE,
                       instance_rescue_template="Debian Bookworm 12", instance_flavor=dict(vcpus=1, memory_mb=256),
                       xenapi_url=E["XENAPI_POOL_A_URL"], resize_ssh=ssh,
                       resize_dest_xenapi=dict(url=E["XENAPI_POOL_B_URL"], password=password),
                       resize_dest_sr=E["XENAPI_POOL_B_SR_UUID"], resize_shutdown_timeout=5, resize_timeout=120)}
        inventory = write_inventory(os.path.join(root, "inventory.json"), hosts, dict(glance=glance))
        pb = Playbooks(inventory, os.path.join(root, "runs"), env=dict(E))
        campaign = XenapiCampaign(pb, pools, glance)
        scenario(campaign, pools, beds, proxy)
        # a second instance, booted from the first snapshot image (the other cells' playbooks never name it)
        image = [i["id"] for i in glance_images(glance["url"]) if i["name"] == TAG + "-snap" and i["status"] == "active"]
        write_inventory(inventory, dict(hosts, **{NAME2: dict(
            compute_driver="xenapi", instance_image=dict(id=image[0]), instance_flavor=dict(vcpus=1, memory_mb=256),
            xenapi_url=E["XENAPI_POOL_A_URL"])}), dict(glance=glance))
        image_scenario(campaign, pools, beds, proxy, image[0])
        return pb.log_dir
    finally:
        if proxy is not None:
            proxy.close()
        if beds is not None:
            beds.stop()
        for pool in pools.values():
            pool.stop()

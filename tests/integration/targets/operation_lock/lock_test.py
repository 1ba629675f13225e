# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The operation lock of #13 against real parts (run by runme.sh).

For every mutating module: while another run holds the instance's lock (lock_holder.py, the
collection's own holders in another process) a run refuses, naming it, in check mode too, and
changes nothing; once that run is killed its stale mark still stops runs, is cleared by
clear_stale_lock (check mode predicts it and writes nothing) and the operation converges; the
mark is gone afterwards, and after a failure.  A hard reboot takes a stale mark over.  A real
xen_vdi_resize shrink killed half way leaves its VBDs on the helper VM and its clone behind:
clearing its mark removes them and the shrink completes.

XenAPI runs against a private simulator (its faults and delays disturb nobody), libvirt against
the shared libvirtd with this run's own names, images against the Glance bed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import libvirt
import XenAPI
from module_runs import clean_failure, collections_root, run_sections
from module_runs import module_run as _module_run

HERE = os.path.dirname(os.path.abspath(__file__))
TAG = "ol-%s" % uuid.uuid4().hex[:6]
HOST = socket.gethostname()
KEY = "novaops_task_state"
TASK_NS = "https://novaops.example/compute/1/task"
LOCK_FILE = "novaops-task.lock"
HELPER_TAG = "novaops_helper_vbd"
CLONE_TAG = "novaops_resize_clone_of"
MiB = 1024 * 1024
FAILURES = []
COUNT = [0]


def check(condition, what, detail=None):
    COUNT[0] += 1
    print("%s %s" % ("ok  " if condition else "FAIL", what), flush=True)
    if not condition:
        FAILURES.append(what)
        if detail is not None:
            print("     %s" % json.dumps(detail, default=str)[:3000], flush=True)
    return condition


# a run here may wait on a shrink or a snapshot: up to 15 minutes
module_run = functools.partial(_module_run, timeout=900)


# -- the other run: a process holding the lock --------------------------------------------------------
class Holder:
    def __init__(self, argv, env):
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "lock_holder.py")] + argv,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, NOVAOPS_COLLECTIONS_ROOT=collections_root(), **env))
        self.operation = argv[-1]
        line = self.proc.stdout.readline().strip()
        if line != "held":
            self.proc.kill()
            raise RuntimeError("the lock holder did not take the lock: %s %s" % (line, self.proc.stderr.read()))
        self.owner = "%s:%d" % (HOST, self.proc.pid)

    def kill(self):
        """SIGKILL: what a killed run leaves."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def end(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


def lock_cycle(what, module, args, env, holder_argv, marked, see, converged, changes=True, idle_args=None):
    """A second run refuses while the lock is held, then the killed run's stale mark is cleared and
    the operation converges; ``see()`` is what a user sees of the instance, ``converged(seen)`` whether
    the operation's change is there.  ``idle_args``: a run with nothing to do, which must pass by."""
    seen = see()
    holder = Holder(holder_argv, env)
    try:
        busy = module_run(module, args, env)
        check(clean_failure(busy) and holder.operation in busy["msg"] and holder.owner in busy["msg"] and
              "is busy" in busy["msg"] and (busy.get("operation_lock") or {}).get("busy", {}).get("started_at", "-")
              in busy["msg"], "%s: refused while %s holds the lock, naming it" % (what, holder.owner), busy)
        checked = module_run(module, args, env, check_mode=True)
        check(clean_failure(checked) and holder.owner in checked["msg"], "%s: check mode refuses too" % what, checked)
        if idle_args is not None:
            idle = module_run(module, idle_args, env)
            check(not idle.get("failed") and idle.get("changed") is False,
                  "%s: a run with nothing to do passes by the held lock (it writes no mark)" % what, idle)
        check(see() == seen and marked(), "%s: nothing changed, the mark is the holder's" % what, see())
    finally:
        holder.kill()
    stale = module_run(module, args, env)
    check(clean_failure(stale) and "stale" in stale["msg"] and "clear_stale_lock: true" in stale["msg"] and
          holder.owner in stale["msg"], "%s: the killed run's stale mark still stops a run" % what, stale)
    cleared_args = dict(args, clear_stale_lock=True)
    predicted = module_run(module, cleared_args, env, check_mode=True)
    check(predicted.get("changed") is True and predicted.get("actions", [None])[0] == "clear_stale_lock" and
          marked() and see() == seen, "%s: check mode predicts the clearing and writes nothing" % what, predicted)
    done = module_run(module, cleared_args, env)
    cleared = (done.get("operation_lock") or {}).get("cleared") or [{}]
    check(not done.get("failed") and done.get("changed") is True and cleared[0].get("owner") == holder.owner and
          cleared[0].get("stale") is True, "%s: clear_stale_lock clears it (result names it)" % what, done)
    check(converged(see()) if changes else see() == seen, "%s: the operation converged" % what, see())
    check(not marked(), "%s: no mark left after the run" % what)
    again = module_run(module, args, env)
    check(not again.get("failed") and again.get("changed") is False and not marked(),
          "%s: a second run changes nothing and writes no mark" % what, again)
    return done


# -- XenAPI: a private simulator ------------------------------------------------------------------
class PrivateSimulator:
    """xapisim.testkit's simulator of one's own, from the tools tree beside the beds, logged in; what a user
    sees of its VMs."""

    def __init__(self, tools_dir, root):
        if tools_dir not in sys.path:
            sys.path.insert(0, tools_dir)
        self.server = importlib.import_module("xapisim.testkit").PrivateSimulator(root, TAG)
        self.facts, self.url, self.password = self.server.facts, self.server.url, self.server.password
        time.sleep(0.2)
        self.env = dict(self.server.env, XENAPI_HELPER_VM_UUID=self.facts["helper_vm"],
                        XENAPI_DEVICE_DIR=self.facts["device_dir"], XENAPI_SR_UUID=self.facts["sr"], XENAPI_CA_PATH="")
        self.session = XenAPI.Session(self.url)
        self.session.login_with_password("root", self.password, "1.0", TAG)
        self.x = self.session.xenapi

    def sim(self, name, *args):
        return self.server.sim(name, *args)

    def stop(self):
        try:
            self.session.xenapi.session.logout()
        except Exception:  # pylint: disable=broad-except
            pass
        self.server.stop(timeout=60)

    # what a user sees
    def vm(self, name):
        return self.x.VM.get_by_name_label(name)[0]

    def mark(self, name):
        return self.x.VM.get_other_config(self.vm(name)).get(KEY)

    def power(self, name):
        return self.x.VM.get_power_state(self.vm(name))

    def root_vdi(self, name):
        for vbd in self.x.VM.get_VBDs(self.vm(name)):
            rec = self.x.VBD.get_record(vbd)
            if rec["userdevice"] == "0":
                return rec["VDI"]
        return None

    def helper_vbds(self):
        """The purposes of the tagged VBDs on the helper VM (read in one call: they come and go)."""
        helper = self.x.VM.get_by_uuid(self.facts["helper_vm"])
        return sorted(rec["other_config"][HELPER_TAG] for rec in self.x.VBD.get_all_records().values()
                      if rec["VM"] == helper and HELPER_TAG in rec["other_config"])

    def vdis(self):
        return dict((rec["uuid"], rec) for rec in self.x.VDI.get_all_records().values() if rec.get("managed"))

    def make_vm(self, name, size_mib, ext4=False):
        """A halted VM with a root disk; with ext4, one ext4 partition holding files (a shrinkable disk)."""
        sr = self.x.SR.get_by_uuid(self.facts["sr"])
        vm = self.x.VM.create(dict(
            name_label=name, name_description=TAG, is_a_template=False, memory_static_max=str(256 * MiB),
            memory_dynamic_max=str(256 * MiB), memory_dynamic_min=str(256 * MiB), memory_static_min=str(256 * MiB),
            VCPUs_max="1", VCPUs_at_startup="1", actions_after_shutdown="destroy", actions_after_reboot="restart",
            actions_after_crash="restart", PV_bootloader="pygrub", other_config={}))
        vdi = self.x.VDI.create(dict(name_label=name + "-root", name_description="", SR=sr,
                                     virtual_size=str(size_mib * MiB), type="user", sharable=False, read_only=False,
                                     other_config={}, xenstore_data={}, sm_config={}, tags=[]))
        self.x.VBD.create(dict(VM=vm, VDI=vdi, userdevice="0", bootable=True, mode="RW", type="Disk", empty=False,
                               unpluggable=True, other_config={}, qos_algorithm_type="", qos_algorithm_params={}))
        if ext4:
            with self.plugged(vdi) as device:
                write_ext4_image(device, size_mib)
        return vm

    @contextlib.contextmanager
    def plugged(self, vdi):
        helper = self.x.VM.get_by_uuid(self.facts["helper_vm"])
        vbd = self.x.VBD.create(dict(VM=helper, VDI=vdi, userdevice="autodetect", bootable=False, mode="RW",
                                     type="Disk", empty=False, unpluggable=True, other_config={},
                                     qos_algorithm_type="", qos_algorithm_params={}))
        self.x.VBD.plug(vbd)
        try:
            yield os.path.join(self.facts["device_dir"], self.x.VBD.get_device(vbd))
        finally:
            self.x.VBD.unplug(vbd)
            self.x.VBD.destroy(vbd)


def write_ext4_image(device, size_mib):
    """An msdos disk with one ext4 partition from sector 2048 holding 12 MiB of files, made without mounting."""
    with tempfile.TemporaryDirectory() as tmp:
        files = os.path.join(tmp, "root", "data")
        os.makedirs(files)
        with open(os.path.join(files, "random.bin"), "wb") as handle:
            handle.write(os.urandom(12 * MiB))
        part = os.path.join(tmp, "part.img")
        end = size_mib * 2048 - 1
        with open(part, "wb") as handle:
            handle.truncate((end - 2048 + 1) * 512)
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", os.path.join(tmp, "root"), part], check=True)
        subprocess.run(["parted", "--script", device, "mklabel", "msdos", "mkpart", "primary", "2048s",
                        "%ds" % end, "set", "1", "boot", "on"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with open(part, "rb") as src, open(device, "r+b") as dst:
            dst.seek(2048 * 512)
            shutil.copyfileobj(src, dst, 4 * MiB)


def glance_images(name):
    url = "%s/v2/images?name=%s" % (os.environ["NOVAOPS_GLANCE_URL"], name)
    request = urllib.request.Request(url, headers={"X-Roles": "admin", "X-Tenant-Id": "novaops-tests"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return sorted((img["status"], img["id"]) for img in json.loads(answer.read())["images"])


def glance_delete(name):
    for _status, image_id in glance_images(name):
        request = urllib.request.Request("%s/v2/images/%s" % (os.environ["NOVAOPS_GLANCE_URL"], image_id),
                                         headers={"X-Roles": "admin", "X-Tenant-Id": "novaops-tests"},
                                         method="DELETE")
        with contextlib.suppress(Exception):
            urllib.request.urlopen(request, timeout=60).close()


GLANCE = dict(roles=["admin"], project_id="novaops-tests")


def ssh_options():
    return dict(ssh_host=os.environ["NOVAOPS_SSH_HOST"], ssh_port=int(os.environ["NOVAOPS_SSH_PORT"]),
                ssh_user=os.environ["NOVAOPS_SSH_USER"], ssh_private_key_file=os.environ["NOVAOPS_SSH_KEY"],
                ssh_known_hosts_file=os.environ["NOVAOPS_SSH_KNOWN_HOSTS"])


def xenapi_part(tools_dir, root):
    sim = PrivateSimulator(tools_dir, root)
    env = sim.env
    try:
        name = "%s-x1" % TAG
        sim.make_vm(name, 16)

        def marked():
            return sim.mark(name) is not None

        def holder(module):
            return ["xen", name, "ol-holder-%s" % module]

        lock_cycle("xen_vm start", "xen_vm", dict(name=name, state="running"), env, holder("xen_vm"), marked,
                   lambda: sim.power(name), lambda seen: seen == "Running", idle_args=dict(name=name))
        module_run("xen_vm", dict(name=name, state="halted", force=True), env)
        lock_cycle("xen_vdi_resize grow", "xen_vdi_resize", dict(vm=name, size="32MiB"), env,
                   holder("xen_vdi_resize"), marked,
                   lambda: int(sim.x.VDI.get_virtual_size(sim.root_vdi(name))), lambda seen: seen == 32 * MiB)
        image = "%s-x1-snap" % TAG
        try:
            lock_cycle("xen_snapshot", "xen_snapshot", dict(vm=name, image_name=image, glance=GLANCE), env,
                       holder("xen_snapshot"), marked, lambda: [s for s, _i in glance_images(image)],
                       lambda seen: seen == ["active"])
        finally:
            glance_delete(image)

        def migrated():
            source = sim.x.VDI.get_uuid(sim.root_vdi(name))
            return sorted(rec["uuid"] for rec in sim.vdis().values()
                          if rec["other_config"].get("novaops_migrated_from") == source)

        lock_cycle("vhd_migrate", "vhd_migrate", dict(vm_name=name, **ssh_options()), env, holder("vhd_migrate"),
                   marked, migrated, lambda seen: len(seen) == 1)

        # a failure half way releases the lock
        module_run("xen_vm", dict(name=name, state="running"), env)
        sim.sim("fault_add", "VM.clean_shutdown", ["INTERNAL_ERROR", "ol: injected"], 1, 1)
        failed = module_run("xen_vm", dict(name=name, state="halted"), env)
        check(clean_failure(failed) and "INTERNAL_ERROR" in failed["msg"] and not marked() and
              sim.power(name) == "Running", "xen_vm: a failed shutdown leaves no mark (and the VM running)", failed)
        sim.sim("faults_clear")

        # a hard reboot takes a stale mark over; a live one it refuses
        holder_run = Holder(holder("xen_vm"), env)
        try:
            busy = module_run("xen_vm", dict(name=name, state="rebooted", reboot="hard"), env)
            check(clean_failure(busy) and holder_run.owner in busy["msg"], "xen_vm hard reboot: refused while the "
                  "lock is held", busy)
        finally:
            holder_run.kill()
        sim.x.VM.hard_shutdown(sim.vm(name))     # as the killed run may leave it
        rebooted = module_run("xen_vm", dict(name=name, state="rebooted", reboot="hard"), env)
        taken = (rebooted.get("operation_lock") or {}).get("taken_over") or [{}]
        check(not rebooted.get("failed") and taken[0].get("owner") == holder_run.owner and
              "take_over_stale_lock" in rebooted.get("actions", []) and
              any("took over the stale mark" in w for w in rebooted.get("warnings", [])),
              "xen_vm hard reboot: takes the stale mark over and says so", rebooted)
        check(sim.power(name) == "Running" and not marked(), "xen_vm hard reboot: the VM runs again, no mark left")

        killed_shrink(sim, env)
    finally:
        sim.stop()


def killed_shrink(sim, env):
    """A real shrink killed with both work disks plugged into the helper VM; clearing its mark cleans up."""
    name = "%s-x2" % TAG
    sim.make_vm(name, 64, ext4=True)
    source = sim.x.VDI.get_uuid(sim.root_vdi(name))
    vdis_before = set(sim.vdis())
    args = dict(vm=name, size="40MiB")
    sim.sim("delay", "VBD.unplug", 5)         # a window with the clone and the new disk plugged
    run = module_run("xen_vdi_resize", args, env, background=True)
    owner = None
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and run.poll() is None:
            found = sim.helper_vbds()
            if "resize-clone" in found and "resize-new" in found and sim.mark(name):
                owner = json.loads(sim.mark(name))["owner"]
                os.kill(int(owner.rsplit(":", 1)[1]), signal.SIGKILL)     # the module's own process
                break
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
        sim.sim("delay", "VBD.unplug", 0)
    left_vbds = sim.helper_vbds()
    left_vdis = set(sim.vdis()) - vdis_before
    clones = [u for u in left_vdis if sim.vdis()[u]["other_config"].get(CLONE_TAG) == source]
    if not check(owner is not None and sim.mark(name) and left_vbds and clones,
                 "xen_vdi_resize killed half way: mark, plugged work disks and the clone left behind",
                 dict(owner=owner, vbds=left_vbds, new=sorted(left_vdis))):
        return
    stale = module_run("xen_vdi_resize", args, env)
    check(clean_failure(stale) and owner in stale["msg"] and "stale" in stale["msg"],
          "xen_vdi_resize: the killed shrink's mark stops a re-run", stale)
    done = module_run("xen_vdi_resize", dict(args, clear_stale_lock=True), env)
    cleaned = (done.get("operation_lock") or {}).get("cleaned_up") or []
    check(not done.get("failed") and done.get("changed") and
          len([c for c in cleaned if "helper VM's VBD" in c]) == len(left_vbds) and
          len([c for c in cleaned if c.startswith("destroyed VDI")]) == len(left_vdis),
          "xen_vdi_resize: clearing the mark unplugs and destroys what the killed run left", done)
    now = set(sim.vdis())
    check(sim.helper_vbds() == [] and not (left_vdis & now) and len(now - vdis_before) == 1 and
          int(sim.x.VDI.get_virtual_size(sim.root_vdi(name))) == 40 * MiB and sim.mark(name) is None,
          "xen_vdi_resize: then the shrink completes: one new 40 MiB root disk, nothing plugged, no mark",
          dict(vbds=sim.helper_vbds(), new=sorted(now - vdis_before)))


# -- libvirt: the shared libvirtd ---------------------------------------------------------------------
def libvirt_part(root):
    uri = os.environ.get("LIBVIRT_DEFAULT_URI", "qemu:///system")
    inst = os.path.join(root, "instances")
    os.makedirs(inst)
    for path in (root, inst):
        os.chmod(path, 0o755)
    image = os.path.join(root, "image.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", image, "16M"], check=True)
    libvirt.registerErrorHandler(lambda *_args: None, None)
    conn = libvirt.open(uri)
    name = "%s-d1" % TAG
    base = dict(name=name, virt_type="qemu", instances_path=inst, timeout=30)
    try:
        made = module_run("libvirt_domain", dict(base, flavor=dict(vcpus=1, memory_mb=64), image=dict(path=image)))
        if not check(not made.get("failed") and made["domain"]["state"] == "running", "libvirt_domain: the "
                     "instance boots (its own lock released)", made):
            return
        uid = made["domain"]["uuid"]
        idir = os.path.join(inst, uid)

        def state():
            return conn.lookupByName(name).state()[0]

        def lock_files():
            return [d for d in (idir, idir + "_resize") if os.path.exists(os.path.join(d, LOCK_FILE))]

        def marked():
            dom = conn.lookupByName(name)
            return bool(lock_files()) or TASK_NS in dom.XMLDesc(0) or TASK_NS in dom.XMLDesc(2)

        def holder(module):
            return ["libvirt", uri, idir, uid, "ol-holder-%s" % module]

        check(not marked() and state() == libvirt.VIR_DOMAIN_RUNNING, "libvirt_domain: no lock file, no metadata "
              "mark after the boot")
        lock_cycle("libvirt_domain shutdown", "libvirt_domain", dict(base, state="shutdown", force=True), {},
                   holder("libvirt_domain"), marked, state, lambda seen: seen == libvirt.VIR_DOMAIN_SHUTOFF,
                   idle_args=dict(base, state="running"))
        image_name = "%s-d1-snap" % TAG
        try:
            snapshot = dict(name=name, image_name=image_name, mode="cold", glance=GLANCE)
            lock_cycle("libvirt_snapshot", "libvirt_snapshot", snapshot, {},
                       holder("libvirt_snapshot"), marked, lambda: [s for s, _i in glance_images(image_name)],
                       lambda seen: seen == ["active"])
            # a failure half way (Glance unreachable after the copy) releases the lock
            closed = dict(GLANCE, url="http://127.0.0.1:9", timeout=5)
            failed = module_run("libvirt_snapshot", dict(name=name, image_name=image_name + "-x", mode="cold",
                                                         glance=closed))
            check(clean_failure(failed) and not marked() and state() == libvirt.VIR_DOMAIN_SHUTOFF,
                  "libvirt_snapshot: a failed run leaves no lock file and no mark", failed)
        finally:
            glance_delete(image_name)
        resize = dict(name=name, instances_path=inst, shutdown_timeout=1, timeout=30)
        bigger = dict(vcpus=1, memory_mb=96, root_gb=1)
        lock_cycle("libvirt_resize migrated", "libvirt_resize", dict(resize, state="migrated", flavor=bigger), {},
                   holder("libvirt_resize"), marked, lambda: os.path.isdir(idir + "_resize"), lambda seen: seen)
        reverted = module_run("libvirt_resize", dict(resize, state="reverted"))
        check(not reverted.get("failed") and not os.path.isdir(idir + "_resize") and not marked(),
              "libvirt_resize reverted: back in place, no lock file in either directory, no mark", reverted)

        # a hard reboot takes a stale mark over; a live one it refuses
        module_run("libvirt_domain", dict(base, state="running"))
        holder_run = Holder(holder("libvirt_domain"), {})
        try:
            busy = module_run("libvirt_domain", dict(base, hard_reboot=True))
            check(clean_failure(busy) and holder_run.owner in busy["msg"],
                  "libvirt_domain hard_reboot: refused while the lock file is held", busy)
        finally:
            holder_run.kill()
        rebooted = module_run("libvirt_domain", dict(base, hard_reboot=True))
        taken = (rebooted.get("operation_lock") or {}).get("taken_over") or [{}]
        check(not rebooted.get("failed") and taken[0].get("owner") == holder_run.owner and
              any("took over the stale mark" in w for w in rebooted.get("warnings", [])),
              "libvirt_domain hard_reboot: takes the stale mark over and says so", rebooted)
        check(state() == libvirt.VIR_DOMAIN_RUNNING and not marked(),
              "libvirt_domain hard_reboot: the domain runs again; lock file and metadata mark gone")
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom = conn.lookupByName(name)
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(1 | 4)
        conn.close()


def main():
    beds_dir = os.environ["NOVAOPS_BEDS_DIR"]
    tools_dir = os.path.join(os.path.dirname(beds_dir), "tools")
    root = tempfile.mkdtemp(prefix="%s-" % TAG)
    started = time.monotonic()
    try:
        run_sections((lambda: xenapi_part(tools_dir, root), lambda: libvirt_part(root)), check)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("operation_lock: %d checks, %d failed, %.0f s" % (COUNT[0], len(FAILURES), time.monotonic() - started))
    for what in FAILURES:
        print("FAILED: %s" % what)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""`make demo`: the main job, end to end, against the test beds, then a summary.

One instance per driver goes through Nova's operations with the collection's playbooks, run as
a user runs them (``ansible-playbook -i <inventory> novaops.compute.<name>``):

  libvirt  boot from a Glance image, snapshot (live) into Glance, boot a NEW instance from the
           snapshot, resize to a bigger flavor and confirm, rescue, unrescue, hard reboot after its
           QEMU was SIGKILLed
  xenapi   boot from a template on pool a, snapshot into Glance, boot a NEW instance from the
           snapshot (the image cached in the SR, its root a clone), resize up to pool b (vhd_migrate
           over the sshd bed) and confirm, rescue, unrescue, hard reboot after it was left halted

The instance's disk holds files (an ext4 partition); their checksum is taken after every step
and must stay the one it had after the boot - the NEW instance's too, booted from the snapshot. The summary says what ran, how long it took and
the checksum at each step. The instances are removed at the end (DEMO_KEEP=1 keeps them), and
a second `make demo` starts from a clean slate.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration" / "targets" / "setup_compute_roles" / "files"))
from roles_lib import Playbooks, disk, write_inventory  # noqa: E402

E = os.environ
WORK = REPO / ".beds" / "demo"
# What QEMU opens (the instance's files, the rescue image) lives where it can reach it: the
# libvirt bed's instances directory, outside the checkout (QEMU cannot enter /root, mode 700).
QEMU_WORK = Path(E["NOVAOPS_INSTANCES_DIR"]) / "demo"
LV = "demo-lv-1"
XEN = "demo-xen-1"
BRIDGE = "br-novaops-demo"
TEMPLATE = "novaops-demo-64m"
GLANCE = dict(project_id="nt-ro", roles=["admin"])


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def beds_report():
    return sh(sys.executable, str(REPO / "tools" / "beds" / "beds.py"), "status").stdout.rstrip()


class Step:
    def __init__(self, driver, name, run=None, seconds=0.0, outcome="ok"):
        self.driver, self.name, self.seconds, self.outcome = driver, name, seconds, outcome
        self.changed = run.changed if run else 0
        self.sum = ""
        if run is not None:
            self.seconds = run.seconds
            if run.failed:
                self.outcome = "FAILED: %s (log %s)" % (run.msg[:120], run.log)


def clean(everything=True):
    """What a demo left: the domain, the VMs on both pools, the images, the bridge (and the logs)."""
    remove_restored()
    sh("virsh", "-c", "qemu:///system", "destroy", LV)
    sh("virsh", "-c", "qemu:///system", "undefine", "--managed-save", LV)
    for pool in ("A", "B"):
        for name in (XEN, XEN + "-orig", XEN + "-rescue", XEN + "-resize"):
            sh("ansible", "localhost", "-m", "novaops.compute.xen_vm", "-a", "name=%s state=absent url=%s password=%s"
               % (name, E["XENAPI_POOL_%s_URL" % pool], E["XENAPI_POOL_%s_PASSWORD" % pool]))
    for name in ("novaops-demo-image", LV + "-snapshot", XEN + "-snapshot"):
        for image_id in disk("glance-images", name)["ids"]:
            disk("glance-delete", image_id)
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    shutil.rmtree(QEMU_WORK, ignore_errors=True)
    if everything:
        shutil.rmtree(WORK, ignore_errors=True)


def prepare():
    """A Glance image with files for libvirt, a small template on both pools, an OVS bridge."""
    WORK.mkdir(parents=True)
    (QEMU_WORK / "instances").mkdir(mode=0o755, parents=True)
    sh("ovs-vsctl", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev")
    image = WORK / "image.qcow2"
    disk("lv-image", image, 64, 8)
    image_id = disk("glance-upload", image, "novaops-demo-image", "qcow2")["id"]
    rescue = QEMU_WORK / "rescue.qcow2"
    sh("qemu-img", "create", "-q", "-f", "qcow2", str(rescue), "8M")
    for pool in ("A", "B"):
        disk("xen-template", pool, TEMPLATE, 64)
    ssh = dict(host=E["NOVAOPS_SSH_HOST"], port=int(E["NOVAOPS_SSH_PORT"]), user=E["NOVAOPS_SSH_USER"],
               private_key_file=E["NOVAOPS_SSH_KEY"], known_hosts_file=E["NOVAOPS_SSH_KNOWN_HOSTS"])
    return write_inventory(str(WORK / "inventory.json"), {
        LV: dict(compute_driver="libvirt", libvirt_virt_type="qemu",
                 libvirt_instances_path=str(QEMU_WORK / "instances"),
                 instance_flavor=dict(vcpus=1, memory_mb=64, root_gb=1), instance_image=dict(id=image_id),
                 instance_rescue_image=dict(path=str(rescue)),
                 instance_vifs=[dict(id=str(uuid.uuid4()), bridge=BRIDGE, ips=["10.99.0.5"])],
                 rescue_timeout=5, resize_shutdown_timeout=2),
        XEN: dict(compute_driver="xenapi", xenapi_url=E["XENAPI_POOL_A_URL"], instance_template=TEMPLATE,
                  instance_rescue_template="Debian Bookworm 12", instance_flavor=dict(vcpus=1, memory_mb=256),
                  instance_vifs=[dict(network="Pool-wide network associated with eth0", mac="02:00:00:00:de:01")],
                  resize_ssh=ssh, resize_dest_xenapi=dict(url=E["XENAPI_POOL_B_URL"]),
                  resize_dest_sr=E["XENAPI_POOL_B_SR_UUID"], resize_shutdown_timeout=5)},
        dict(glance=GLANCE))


def lv_sum(name=LV):
    out = sh("virsh", "-c", "qemu:///system", "domblklist", name).stdout.split()
    path = next(p for p in out if p.endswith("/disk"))
    return disk("lv-sum", path)["sum"]


def xen_sum():
    """The VM's files, on pool b once it was resized there."""
    for pool in ("B", "A"):
        try:
            return disk("xen-sum", pool, XEN)["sum"]
        except RuntimeError:
            continue
    raise RuntimeError("no VM %s on either pool" % XEN)


def kill_qemu():
    pid = int(Path("/run/libvirt/qemu/%s.pid" % LV).read_text().strip())
    os.kill(pid, signal.SIGKILL)
    time.sleep(1)


def halt_vm(pool):
    sh("ansible", "localhost", "-m", "novaops.compute.xen_vm", "-a", "name=%s state=halted force=true url=%s password=%s"
       % (XEN, E["XENAPI_POOL_%s_URL" % pool], E["XENAPI_POOL_%s_PASSWORD" % pool]))


def driver_job(pb, driver, name, summer, moved, breakage):
    """boot, (the guest's files), snapshot, resize, confirm, rescue, unrescue, hard reboot after a breakage.

    moved: extra variables for the steps after the confirm (the instance's new place)."""
    steps = []

    def step(title, playbook, extra=None, before=None, read=True):
        if before:
            before()
        run = pb.run(playbook, "--limit", name, extra=extra)
        s = Step(driver, title, run)
        if not run.failed and read:
            try:
                s.sum = summer()
            except (RuntimeError, StopIteration) as exc:
                s.outcome = "FAILED reading the disk: %s" % exc
        steps.append(s)
        print("%-8s %-26s %s" % (driver, title, s.outcome), flush=True)
        return not run.failed

    flavor = (dict(vcpus=2, memory_mb=96, root_gb=2) if driver == "libvirt"
              else dict(vcpus=2, memory_mb=512, root_mb=96))
    ok = step("boot", "boot", read=driver == "libvirt")     # a XenAPI template's disk is empty until the guest writes
    if ok and driver == "xenapi":
        started = time.monotonic()
        disk("xen-fill", "A", XEN, 8)        # the guest installs itself: files on its root disk
        s = Step(driver, "guest writes its files", seconds=time.monotonic() - started)
        s.sum = summer()
        steps.append(s)
    ok = ok and step("snapshot", "snapshot")
    ok = ok and restore(pb, driver, name, steps)
    ok = ok and step("resize", "resize", extra=dict(flavor=flavor))
    ok = ok and step("resize confirm", "resize", extra=dict(action="confirm"))
    ok = ok and step("rescue", "rescue", extra=moved)
    ok = ok and step("unrescue", "unrescue", extra=moved)
    ok = ok and step("hard reboot (%s)" % breakage[0], "hard_reboot", extra=moved, before=breakage[1])
    return steps


def restore(pb, driver, name, steps):
    """The round trip: a NEW instance booted from the snapshot image; its files' checksum is the original's.
    It is removed at once (on XenAPI with the image's cached VDI), so the job goes on with the original."""
    restored = name + "-restored"
    ids = disk("glance-images", name + "-snapshot")["ids"]
    extra = dict(instance_name=restored, instance_image=dict(id=ids[0] if ids else "none"), instance_vifs=[])
    if driver == "xenapi":
        extra.update(instance_template="")
    run = pb.run("boot", "--limit", name, extra=extra)
    s = Step(driver, "boot NEW from snapshot", run)
    if not run.failed:
        try:
            s.sum = lv_sum(restored) if driver == "libvirt" else disk("xen-sum", "A", restored)["sum"]
        except (RuntimeError, StopIteration) as exc:
            s.outcome = "FAILED reading the disk: %s" % exc
    steps.append(s)
    print("%-8s %-26s %s" % (driver, s.name, s.outcome), flush=True)
    remove_restored()
    return not run.failed


def remove_restored():
    sh("virsh", "-c", "qemu:///system", "destroy", LV + "-restored")
    sh("virsh", "-c", "qemu:///system", "undefine", LV + "-restored")
    sh("ansible", "localhost", "-m", "novaops.compute.xen_vm", "-a", "name=%s-restored state=absent force=true url=%s "
       "password=%s" % (XEN, E["XENAPI_POOL_A_URL"], E["XENAPI_POOL_A_PASSWORD"]))
    for image_id in disk("glance-images", XEN + "-snapshot")["ids"]:
        sh("ansible", "localhost", "-m", "novaops.compute.xen_image", "-a", json.dumps(dict(
            image=image_id, state="absent", url=E["XENAPI_POOL_A_URL"], password=E["XENAPI_POOL_A_PASSWORD"],
            glance=GLANCE)))


def main():
    print("== test beds")
    print(beds_report())
    print("\n== preparing (an image in Glance, a template on both pools, an OVS bridge)")
    clean()
    inventory = prepare()
    pb = Playbooks(inventory, str(WORK / "runs"))
    print("inventory: %s\n\n== main job" % inventory)
    started = time.monotonic()
    steps = driver_job(pb, "libvirt", LV, lv_sum, {}, ("QEMU killed", kill_qemu))
    on_b = dict(xenapi_url=E["XENAPI_POOL_B_URL"], xenapi_password=E["XENAPI_POOL_B_PASSWORD"])
    steps += driver_job(pb, "xenapi", XEN, xen_sum, on_b, ("left halted", lambda: halt_vm("B")))
    total = time.monotonic() - started

    print("\n== summary: what ran, how long, the instance's files' sha256 after each step")
    print("%-8s %-26s %-8s %7s  %-18s %s" % ("driver", "step", "changed", "time", "files sha256", "outcome"))
    failed = 0
    for driver in ("libvirt", "xenapi"):
        ran = [s for s in steps if s.driver == driver]
        ref = ran[0].sum if driver == "libvirt" else next((s.sum for s in ran if s.name == "guest writes its files"), "")
        for s in ran:
            kept = "" if not s.sum or not ref else ("  kept" if s.sum == ref else "  CHANGED")
            if s.outcome != "ok" or kept == "  CHANGED":
                failed += 1
            print("%-8s %-26s %-8s %6.1fs  %-18s %s%s" % (driver, s.name, s.changed, s.seconds, s.sum[:16],
                                                           s.outcome, kept))
    print("\n%d steps in %.0fs, %d failed; the files' checksum %s across every step"
          % (len(steps), total, failed, "was kept" if not failed else "WAS NOT kept"))
    print("logs of each run: %s" % (WORK / "runs"))
    if not E.get("DEMO_KEEP"):
        clean(everything=False)
        print("the demo instances were removed (DEMO_KEEP=1 keeps them)")
    return 1 if failed or len(steps) < 15 else 0


if __name__ == "__main__":
    os.chdir(REPO)
    sys.exit(main())

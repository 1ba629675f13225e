# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The playbooks on libvirt (run by runme.sh): one domain booted from Glance, its files' sum checked after every step.

boot (check mode, twice; anti-spoofing flows and the HTB queue seen in OVS and tc), snapshot
into Glance (twice; the image's files), rescue and unrescue (twice each; unrescue of an instance
not in rescue fails), hard reboot repairing each breakage - QEMU SIGKILLed, the _base file
deleted, the OVS port removed, the domain undefined with its disks left - resize on the same host
(twice), a snapshot refused while it waits for confirm, and revert (twice), a resize to a host
ssh cannot reach (refused before anything moves: nothing changed), resize to a second "host"
(another instances path over the sshd bed), hard reboot, rescue and another resize refused while
it waits, and confirm (twice; the second confirm and revert say that nothing was pending), issue
20's first day (a refused shrink says nothing changed, a misspelled name fails naming
instance_name), bad input; the round trip: a NEW instance booted from the snapshot image holds
the same files. Rescue and unrescue run with the role's default timeouts: the guest ignores ACPI, and
both power it off at once.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import string
import subprocess
import tempfile
import uuid

from roles_lib import Checks, Playbooks, disk, write_inventory

E = os.environ
TAG = "ntrol" + "".join(random.choice(string.ascii_lowercase) for _letter in range(4))
NAME = TAG + "-1"
NAME2 = TAG + "-2"      # booted from NAME's snapshot
BRIDGE = "br" + TAG
UPLINK = TAG + "u"
IP = "10.77.0.5"
QUEUE = 13947
WAITING = "confirm or revert the resize first"
check = Checks()


def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def domain(name=NAME):
    """The domain as libvirt_domain_info reports it (ad hoc, as a user would look)."""
    proc = sh("ansible", "localhost", "-o", "-m", "novaops.compute.libvirt_domain_info", "-a", "name=%s" % name)
    out = proc.stdout
    info = json.loads(out[out.index("{"):]) if "{" in out else {}
    return (info.get("domains") or [{}])[0]


class Place:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="nt-ro-")
        os.chmod(self.tmp, 0o755)                 # QEMU runs as libvirt-qemu
        self.inst = os.path.join(self.tmp, "instances")
        self.host2 = os.path.join(self.tmp, "host2")
        for path in (self.inst, self.host2):
            os.makedirs(path)
            os.chmod(path, 0o755)
        self.images = []

    def disk(self, inst=None, name=NAME):
        return os.path.join(inst or self.inst, domain(name)["uuid"], "disk")


def setup(place):
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    sh("ovs-vsctl", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev")
    sh("ip", "link", "add", UPLINK, "type", "veth", "peer", "name", TAG + "p")
    sh("ip", "link", "set", UPLINK, "up")
    sh("ovs-vsctl", "--may-exist", "add-port", BRIDGE, UPLINK)
    image = os.path.join(place.tmp, "image.qcow2")
    ref = disk("lv-image", image, 64, 8)["sum"]
    place.image_id = disk("glance-upload", image, TAG + "-image", "qcow2")["id"]
    place.images.append(place.image_id)
    rescue = os.path.join(place.tmp, "rescue.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", rescue, "8M")
    return ref, rescue


def main():
    out = E.get("OUTPUT_DIR", "/tmp")
    place = Place()
    try:
        ref, rescue = setup(place)
        ssh = dict(host=E["NOVAOPS_SSH_HOST"], port=int(E["NOVAOPS_SSH_PORT"]), user=E["NOVAOPS_SSH_USER"],
                   private_key_file=E["NOVAOPS_SSH_KEY"], known_hosts_file=E["NOVAOPS_SSH_KNOWN_HOSTS"])
        inventory = write_inventory(os.path.join(out, TAG + "-inventory.json"), {
            NAME: dict(compute_driver="libvirt", libvirt_virt_type="qemu", libvirt_instances_path=place.inst,
                       instance_flavor=dict(vcpus=1, memory_mb=64, root_gb=1),
                       instance_image=dict(id=place.image_id), instance_rescue_image=dict(path=rescue),
                       instance_vifs=[dict(id=str(uuid.uuid4()), bridge=BRIDGE, ips=[IP],
                                           max_rate=614400000, queue_id=QUEUE)],
                       ovs_qos_port=UPLINK, boot_timeout=60, hard_reboot_timeout=60,
                       resize_shutdown_timeout=1, resize_timeout=60)},
            dict(glance=dict(project_id="nt-ro", roles=["admin"])))
        pb = Playbooks(inventory, os.path.join(out, TAG + "-runs"))
        scenario(pb, place, ref, ssh)
    finally:
        cleanup(place)
    check.exit()


def same_bytes(where, ref, path):
    got = disk("lv-sum", path)
    check(got["sum"] == ref and got["fsck_rc"] == 0, "%s: the instance's files are intact (%s)" % (where, got["sum"][:16]),
          got)


def wired(where):
    """Running, the tap on the bridge, its anti-spoofing flows and the HTB queue there."""
    dom = domain()
    flows = sh("ovs-ofctl", "dump-flows", BRIDGE).stdout
    tc = sh("tc", "class", "show", "dev", UPLINK).stdout
    vif = (dom.get("vifs") or [{}])[0]
    check(dom.get("state") == "running" and vif.get("ovs_port") and "nw_src=%s" % IP in flows and
          "in_port" in flows and "1:%x" % (QUEUE + 1) in tc and "ceil 614400Kbit" in tc,
          "%s: running, port %s plugged, anti-spoofing flows and queue 1:%x in place"
          % (where, vif.get("ovs_port"), QUEUE + 1), dict(state=dom.get("state"), vif=vif, tc=tc))


def scenario(pb, place, ref, ssh):
    # ---- boot
    check.run_ok(pb.run("boot", check=True), "boot, check mode, predicts a change", changed=True)
    check(not domain().get("name"), "check mode defined nothing")
    check.run_ok(pb.run("boot"), "boot", changed=True)
    check.run_ok(pb.run("boot"), "boot again", changed=False)
    wired("after the boot")
    same_bytes("booted from the Glance image", ref, place.disk())

    # ---- snapshot
    image = TAG + "-snap"
    check.run_ok(pb.run("snapshot", "-e", "image_name=" + image), "snapshot (live)", changed=True)
    check.run_ok(pb.run("snapshot", "-e", "image_name=" + image), "snapshot again", changed=False)
    ids = disk("glance-images", image)["ids"]
    place.images += ids
    check(len(ids) == 1 and disk("glance-sum", ids[0])["sum"] == ref, "the image in Glance holds the instance's files")
    check(domain().get("state") == "running", "the domain still runs")
    # the round trip (issue 24): a NEW instance booted from the snapshot image holds the same files
    check.run_ok(pb.run("boot", extra=dict(instance_name=NAME2, instance_image=dict(id=ids[0]), instance_vifs=[])),
                 "boot a new instance from the snapshot image", changed=True)
    same_bytes("the new instance, booted from the snapshot", ref, place.disk(name=NAME2))
    sh("virsh", "-c", "qemu:///system", "destroy", NAME2)
    sh("virsh", "-c", "qemu:///system", "undefine", NAME2)

    # ---- rescue, unrescue
    check.run_ok(pb.run("rescue", check=True), "rescue, check mode, predicts a change", changed=True)
    check(domain().get("state") == "running" and len(domain().get("disks", [])) == 1,
          "check mode left the domain running from its own disk")
    r = pb.run("rescue")
    check.run_ok(r, "rescue", changed=True)
    check(results_with(r, "shutdown") == ["forced"], "rescue powered the domain off at once",
          results_with(r, "shutdown"))
    check.run_ok(pb.run("rescue"), "rescue again", changed=False)
    paths = [os.path.basename(d["path"]) for d in domain().get("disks", [])]
    check(domain().get("state") == "running" and paths[:2] == ["disk.rescue", "disk"],
          "rescued: running from disk.rescue, its own disk second", paths)
    same_bytes("in rescue", ref, place.disk())
    r = pb.run("unrescue")
    check.run_ok(r, "unrescue", changed=True)
    check(results_with(r, "shutdown") == ["forced"], "unrescue powered the domain off at once",
          results_with(r, "shutdown"))
    check.run_failed(pb.run("unrescue"), "unrescue of an instance not in rescue", "is not in rescue")
    paths = [os.path.basename(d["path"]) for d in domain().get("disks", [])]
    check(paths == ["disk"], "unrescued: its own disk only", paths)
    wired("after the unrescue")
    same_bytes("after the unrescue", ref, place.disk())

    # ---- hard reboot repairs each breakage
    r = pb.run("hard_reboot", plain=True)
    check.run_ok(r, "hard reboot of a healthy instance", changed=True)
    check.shown(r, "its summary", "nothing was broken; restarted as asked")
    breakages = [       # each with what the hard reboot's summary line says it found
        ("QEMU SIGKILLed", kill_qemu, ": found it "),
        ("the _base file deleted", lambda: os.unlink(os.path.join(place.inst, "_base", sha1(place.image_id))),
         "found its image was missing from _base"),
        ("the OVS port removed", lambda: sh("ovs-vsctl", "del-port", BRIDGE, domain()["vifs"][0]["ovs_port"]),
         "had no Open vSwitch port"),
        ("the domain undefined, its disks left", lambda: undefine(place), "found it was not defined"),
    ]
    for what, breakage, found in breakages:
        breakage()
        r = pb.run("hard_reboot", plain=True)
        check.run_ok(r, "hard reboot after %s" % what, changed=True)
        check.shown(r, "its summary", found)
        wired("repaired after " + what)
        same_bytes("after " + what, ref, place.disk())

    # ---- resize on this host, revert
    big = dict(flavor=dict(vcpus=2, memory_mb=96, root_gb=2))
    check.run_ok(pb.run("resize", extra=big), "resize on the same host", changed=True)
    check.run_ok(pb.run("resize", extra=big), "resize again", changed=False)
    dom = domain()
    size = json.loads(sh("qemu-img", "info", "-U", "--output=json", place.disk()).stdout)["virtual-size"]
    check(dom.get("state") == "running" and dom.get("vcpus") == 2 and size == 2 << 30,
          "running with 2 vCPUs and a 2 GiB root disk", (dom.get("state"), dom.get("vcpus"), size))
    same_bytes("resized", ref, place.disk())
    check.run_failed(pb.run("snapshot", "-e", "image_name=%s-resized" % TAG), "snapshot while the resize waits",
                     WAITING)
    check(not disk("glance-images", TAG + "-resized")["ids"], "no image was made")
    check.run_ok(pb.run("resize", extra=dict(action="revert")), "revert", changed=True)
    nothing_pending(pb.run("resize", extra=dict(action="revert")), "revert")
    check(domain().get("vcpus") == 1 and domain().get("state") == "running", "the original runs again with 1 vCPU")
    same_bytes("after the revert", ref, place.disk())

    # ---- a resize to a host that ssh cannot reach
    far = dict(flavor=big["flavor"], resize_dest=dict(instances_path=place.host2, uri="qemu:///system"),
               resize_ssh=dict(host=E["NOVAOPS_SSH_HOST"], port=9, user="root", insecure_ignore_host_key=True))
    # refused before anything moves (the destination's free space is read over ssh first): "Nothing was changed.",
    # not "The original was put back" (issue 20 item 3)
    check.run_failed(pb.run("resize", extra=far), "a resize to a host ssh cannot reach", "Nothing was changed.")
    check(domain().get("state") == "running" and domain().get("vcpus") == 1, "the original runs again, as it was")
    check(not os.listdir(place.host2), "nothing was left on the second host", os.listdir(place.host2))
    same_bytes("after the failed resize", ref, place.disk())

    # ---- resize to a second host (another instances path over the sshd bed), confirm
    far["resize_ssh"] = ssh
    check.run_ok(pb.run("resize", extra=far), "resize to the second host", changed=True)
    check.run_ok(pb.run("resize", extra=far), "resize to the second host again", changed=False)
    same_bytes("on the second host", ref, place.disk(place.host2))
    resize_verify(pb, place, ref, far)
    far.update(action="confirm")
    check.run_ok(pb.run("resize", extra=far), "confirm", changed=True)
    nothing_pending(pb.run("resize", extra=far), "confirm")
    check(not [d for d in os.listdir(place.inst) if d.endswith("_resize")], "the original is gone")
    moved = {"libvirt_instances_path": place.host2}
    check.run_ok(pb.run("hard_reboot", extra=moved), "hard reboot on the second host", changed=True)
    same_bytes("finally", ref, place.disk(place.host2))
    first_day(pb, place, ref, moved)

    # ---- bad input: refused before anything happens
    # as the operator sees them: naming the inventory variables, no dump of the role's argument spec
    for what, playbook, extra, text in (
            ("boot with a flavor without vcpus", "boot", dict(instance_flavor=dict(memory_mb=64)),
             "instance_flavor has no vcpus"),
            ("rescue without a driver", "rescue", dict(compute_driver=""), "compute_driver is not set")):
        r = pb.run(playbook, extra=extra, plain=True)
        check(r.failed and "argument_spec_data" not in r.text, "%s fails, with no argument spec dump" % what, r.log)
        check.shown(r, what, text)
    check.run_failed(pb.run("hard_reboot", "-e", "instance_name=%s-none" % TAG), "hard reboot of no instance",
                     "does not exist")


def results_with(playbook_run, key):
    """The values of ``key`` in the task results of a run that have it (JSON callback log)."""
    with open(playbook_run.log) as handle:
        text = handle.read().split("\n--- stderr\n")[0]
    data = json.loads(text[text.index("{"):])
    return [result[key] for play in data.get("plays", []) for task in play.get("tasks", [])
            for result in task.get("hosts", {}).values() if key in result]


def first_day(pb, place, ref, moved):
    """Issue 20 on libvirt: a refused shrink says that nothing was changed (and changes nothing); a misspelled
    instance name fails naming instance_name (confirm and revert with nothing pending: their second runs)."""
    dom = domain()
    r = pb.run("resize", extra=dict(moved, flavor=dict(vcpus=1, memory_mb=64, root_gb=1)))
    check.run_failed(r, "a resize that would shrink the root disk", "Refusing the resize before anything moves")
    check("Nothing was changed." in r.msg and "put back" not in r.msg, "its message says that nothing was changed",
          r.msg)
    check(r.changed == 0 and domain() == dom, "the domain is as it was", (r.changed, domain(), dom))
    same_bytes("after the refused shrink", ref, place.disk(place.host2))
    typo = dict(moved, instance_name=NAME + "x")      # hard reboot: the libvirt_domain target asserts it
    for playbook, extra in (("resize", dict(typo, action="confirm")), ("rescue", typo)):
        what = " ".join(filter(None, (playbook, extra.get("action"))))
        check.run_failed(pb.run(playbook, extra=extra), "%s of a misspelled instance name" % what, "instance_name")
    check(domain() == dom, "the domain is as it was", (domain(), dom))


def nothing_pending(playbook_run, action):
    """Confirm or revert again: no change, and the result says that nothing was pending (issue 20 item 5)."""
    check.run_ok(playbook_run, "%s again" % action, changed=False)
    check(any("there was nothing to %s" % action in str(msg) for msg in results_with(playbook_run, "msg")),
          "its result says that nothing was pending", results_with(playbook_run, "msg"))


def resize_verify(pb, place, ref, far):
    """Nova's RESIZED: only confirm and revert. A hard reboot rebuilt the source's definition (a fresh disk
    in the source's instances path) and the confirm then found it running; rescue and another resize too
    are refused before anything changes."""
    uuid_ = domain()["uuid"]
    for what, run in (("hard reboot", pb.run("hard_reboot")), ("rescue", pb.run("rescue"))):
        check.run_failed(run, "%s while the resize waits for confirm" % what, WAITING)
    check.run_failed(pb.run("resize", extra=dict(far, flavor=dict(vcpus=1, memory_mb=64, root_gb=3))),
                     "another resize while one waits for confirm", "confirm or revert that resize before another")
    dom = domain()
    check(dom.get("state") == "running" and dom.get("vcpus") == 2 and
          [d["path"] for d in dom.get("disks", [])] == [place.disk(place.host2)],
          "the resized instance still runs from the second host", dom)
    check(not os.path.exists(os.path.join(place.inst, uuid_)) and
          os.path.exists(os.path.join(place.inst, uuid_ + "_resize", "disk")),
          "nothing was rebuilt at the source; the original waits in _resize", os.listdir(place.inst))
    same_bytes("after the refusals", ref, place.disk(place.host2))


def undefine(place):
    sh("ansible", "localhost", "-m", "novaops.compute.libvirt_domain", "-a",
       "name=%s state=undefined instances_path=%s" % (NAME, place.inst))


def kill_qemu():
    with open("/run/libvirt/qemu/%s.pid" % NAME) as handle:
        os.kill(int(handle.read().strip()), signal.SIGKILL)
    for _attempt in range(100):
        if domain().get("state") != "running":
            return
    raise RuntimeError("QEMU did not die")


def sha1(text):
    import hashlib
    return hashlib.sha1(text.encode()).hexdigest()


def cleanup(place):
    for name in (NAME, NAME2):
        sh("virsh", "-c", "qemu:///system", "destroy", name)
        sh("virsh", "-c", "qemu:///system", "undefine", "--managed-save", name)
    for image_id in place.images:
        try:
            disk("glance-delete", image_id)
        except RuntimeError:
            pass
    sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    sh("ip", "link", "del", UPLINK)
    shutil.rmtree(place.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

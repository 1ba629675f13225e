"""Test-only helper for the xen_vdi_resize target: images, VMs and VDIs through the XenAPI SDK.

Subcommands print JSON.  Connection from XENAPI_URL/USERNAME/PASSWORD/CA_PATH, the helper VM
from XENAPI_HELPER_VM_UUID, plugged disks under XENAPI_DEVICE_DIR.
"""
import contextlib
import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import xmlrpc.client

import XenAPI

# the image maker and the VM remover the roles' targets use too (aliases: needs/target/setup_compute_roles)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "setup_compute_roles", "files"))
from ext4_disk import make_image  # noqa: E402
from xen_vms import destroy_vm  # noqa: E402


def session():
    ctx = ssl.create_default_context(cafile=os.environ.get("XENAPI_CA_PATH"))
    s = XenAPI.Session(os.environ["XENAPI_URL"], transport=xmlrpc.client.SafeTransport(context=ctx))
    s.login_with_password(os.environ["XENAPI_USERNAME"], os.environ["XENAPI_PASSWORD"], "1.0", "bed.py")
    return s


@contextlib.contextmanager
def plugged(x, vdi, read_only=False):
    helper = x.VM.get_by_uuid(os.environ["XENAPI_HELPER_VM_UUID"])
    vbd = x.VBD.create(dict(VM=helper, VDI=vdi, userdevice="autodetect", bootable=False,
                            mode="RO" if read_only else "RW", type="Disk", empty=False, unpluggable=True,
                            other_config={}, qos_algorithm_type="", qos_algorithm_params={}))
    try:
        x.VBD.plug(vbd)
        yield os.path.join(os.environ["XENAPI_DEVICE_DIR"], x.VBD.get_device(vbd))
        x.VBD.unplug(vbd)
    finally:
        if x.VBD.get_currently_attached(vbd):
            x.VBD.unplug_force(vbd)
        x.VBD.destroy(vbd)


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    s = session()
    x = s.xenapi
    out = {}
    try:
        if cmd == "make-vm":           # name size_mib files_mib [layout]
            name, size_mib, files_mib = args[0], int(args[1]), int(args[2])
            layout = args[3] if len(args) > 3 else "ext4"
            sr = x.SR.get_by_uuid(os.environ["XENAPI_SR_UUID"])
            for old in x.VM.get_by_name_label(name):
                destroy_vm(x, old)
            vm = x.VM.create(dict(name_label=name, name_description="xen_vdi_resize test", is_a_template=False,
                                  memory_static_max="268435456", memory_dynamic_max="268435456",
                                  memory_dynamic_min="268435456", memory_static_min="268435456",
                                  VCPUs_max="1", VCPUs_at_startup="1", actions_after_shutdown="destroy",
                                  actions_after_reboot="restart", actions_after_crash="restart",
                                  PV_bootloader="pygrub", other_config={"novaops_test": "xen_vdi_resize"}))
            vdi = x.VDI.create(dict(name_label=name + "-root", name_description="", SR=sr,
                                    virtual_size=str(size_mib * 1048576), type="user", sharable=False,
                                    read_only=False, other_config={}, xenstore_data={}, sm_config={}, tags=[]))
            x.VBD.create(dict(VM=vm, VDI=vdi, userdevice="0", bootable=True, mode="RW", type="Disk", empty=False,
                              unpluggable=True, other_config={}, qos_algorithm_type="", qos_algorithm_params={}))
            with tempfile.TemporaryDirectory() as tmp:
                img = os.path.join(tmp, "disk.img")
                if layout == "ext4":
                    make_image(img, size_mib, files_mib, "instance-resize")
                elif layout == "gpt":
                    make_image(img, size_mib, files_mib, "instance-resize", label="gpt")
                elif layout == "whole":           # ext4 on the whole disk, no partition table
                    with open(img, "wb") as f:
                        f.truncate(size_mib * 1048576)
                    run("mke2fs", "-q", "-F", "-t", "ext4", img)
                elif layout == "part2":           # one ext4 partition, but numbered 2
                    make_image(img, size_mib, files_mib, "instance-resize", label="gpt")
                    run("sgdisk", "--transpose=1:2", img)
                elif layout == "two":
                    with open(img, "wb") as f:
                        f.truncate(size_mib * 1048576)
                    run("parted", "--script", img, "mklabel", "msdos", "mkpart", "primary", "2048s", "20479s",
                        "mkpart", "primary", "20480s", "%ds" % (size_mib * 2048 - 1))
                elif layout == "vfat":
                    with open(img, "wb") as f:
                        f.truncate(size_mib * 1048576)
                    run("parted", "--script", img, "mklabel", "msdos", "mkpart", "primary", "fat32", "2048s",
                        "%ds" % (size_mib * 2048 - 1))
                with plugged(x, vdi) as dev:
                    run("dd", "if=" + img, "of=" + dev, "bs=4M", "conv=notrunc,sparse", "status=none")
            out = dict(vm=x.VM.get_uuid(vm), vdi=x.VDI.get_uuid(vdi))
        elif cmd == "destroy-vm":
            for vm in x.VM.get_by_name_label(args[0]):
                destroy_vm(x, vm)
            for vdi in x.VDI.get_by_name_label(args[0] + "-root"):   # originals kept by shrinks
                if not x.VDI.get_VBDs(vdi):
                    x.VDI.destroy(vdi)
        elif cmd == "vdi-sha1":        # vdi_uuid: sha1 of the whole virtual disk, read through a RO plug
            vdi = x.VDI.get_by_uuid(args[0])
            with plugged(x, vdi, read_only=True) as dev:
                h = hashlib.sha1()
                with open(dev, "rb") as f:
                    for block in iter(lambda: f.read(4 << 20), b""):
                        h.update(block)
            out = dict(sha1=h.hexdigest(), virtual_size=int(x.VDI.get_virtual_size(vdi)))
        elif cmd == "vdi-files":
            # vdi_uuid path...: sha1 of files read with debugfs, e2fsck -n, the table as parted and
            # sgdisk see it, partition 1's identity (MBR type byte or GPT GUIDs, name, attributes)
            vdi = x.VDI.get_by_uuid(args[0])
            with plugged(x, vdi, read_only=True) as dev:
                table = subprocess.run(["parted", "--script", "--machine", dev, "unit", "s", "print"],
                                       capture_output=True, text=True, check=True).stdout
                start = int(table.splitlines()[2].split(":")[1].rstrip("s"))
                part = "%s?offset=%d" % (dev, start * 512)
                fsck = subprocess.run(["e2fsck", "-f", "-n", part], capture_output=True, text=True, check=False)
                files = {}
                for path in args[1:]:
                    data = subprocess.run(["debugfs", "-R", "cat %s" % path, part], capture_output=True,
                                          check=True).stdout
                    files[path] = hashlib.sha1(data).hexdigest()
                with open(dev, "rb") as f:
                    mbr = f.read(512)
                out = dict(mbr_signature=mbr[440:444].hex(), mbr_type=mbr[450:451].hex())
                if ":gpt:" in table.splitlines()[1]:
                    verify = subprocess.run(["sgdisk", "--verify", dev], capture_output=True, text=True, check=False)
                    info = subprocess.run(["sgdisk", "--info=1", dev], capture_output=True, text=True, check=True)
                    out.update(gpt_verify=verify.stdout, gpt=sgdisk_info(info.stdout))
            out.update(fsck_rc=fsck.returncode, fsck=fsck.stdout[-300:], files=files, table=table,
                       virtual_size=int(x.VDI.get_virtual_size(vdi)))
        elif cmd == "helper-vbds":
            # this target's VBDs on the helper VM (other targets plug disks into it too), and clones left
            helper = x.VM.get_by_uuid(os.environ["XENAPI_HELPER_VM_UUID"])
            ours = []
            for vbd in x.VM.get_VBDs(helper):
                try:
                    rec = x.VBD.get_record(vbd)
                    if rec["VDI"] != "OpaqueRef:NULL" and is_ours(x.VDI.get_name_label(rec["VDI"])):
                        ours.append(dict(device=rec["device"], attached=rec["currently_attached"]))
                except XenAPI.Failure:       # another target's VBD gone meanwhile
                    continue
            out = dict(vbds=ours, clones=len([1 for r in x.VDI.get_all_records().values()
                                              if r["name_label"] == "novaops resize clone"]))
        elif cmd == "vdi-count":
            # only this target's VDIs: other targets may run against the same simulator
            out = dict(count=len([1 for r in x.VDI.get_all_records().values() if is_ours(r["name_label"])]))
        elif cmd == "device-farm":
            device_farm(x, args[0], float(args[1]), dict(arg.split("=", 1) for arg in args[2:]))
        elif cmd == "fault":           # method nth code...: fail the nth call of method once
            out = dict(id=x.sim.fault_add(args[0], args[2:], args[1], "1"))
        elif cmd == "fault-state":     # id: how often the fault was seen and fired
            out = fault_rule(x, args[0]) or {}
        elif cmd == "fault-disarm":    # id: consume a fault that did not fire, with harmless calls of ours
            out = dict(calls=disarm(x, args[0]))
        elif cmd == "start":
            x.VM.start(x.VM.get_by_name_label(args[0])[0], False, False)
        elif cmd == "shutdown":
            x.VM.hard_shutdown(x.VM.get_by_name_label(args[0])[0])
        else:
            raise SystemExit("unknown command %s" % cmd)
    finally:
        s.xenapi.session.logout()
    print(json.dumps(out))


def sgdisk_info(text):
    """``sgdisk --info=1``: the fields that make partition 1 itself, and where it lies."""
    keys = {"Partition GUID code": "type", "Partition unique GUID": "partuuid", "First sector": "first",
            "Last sector": "last", "Attribute flags": "attributes", "Partition name": "name"}
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in keys:
            found[keys[key.strip()]] = value.strip().split(" (")[0].strip("'")
    return found


def fault_rule(x, rule_id):
    return next((r for r in x.sim.faults() if r["id"] == rule_id), None)


def disarm(x, rule_id):
    """Faults are pool-wide (there is no removing one, and faults_clear would drop other
    targets' faults too): a fault of ours that did not fire is used up by calls on a small
    VDI of our own, so it cannot hit another target's call later."""
    calls = 0
    sr = x.SR.get_by_uuid(os.environ["XENAPI_SR_UUID"])
    helper = x.VM.get_by_uuid(os.environ["XENAPI_HELPER_VM_UUID"])
    while calls < 10:
        rule = fault_rule(x, rule_id)
        if rule is None or int(rule["fired"]) >= max(1, int(rule["count"])):
            break
        calls += 1
        made = []
        try:
            vdi = x.VDI.create(dict(name_label="vr-rsz-disarm", name_description="", SR=sr, virtual_size=str(2 << 20),
                                    type="user", sharable=False, read_only=False, other_config={},
                                    xenstore_data={}, sm_config={}, tags=[]))
            made.append(vdi)
            if rule["method"] == "VDI.clone":
                made.append(x.VDI.clone(vdi, {}))
            elif rule["method"] in ("VBD.plug", "VBD.unplug"):
                with plugged(x, vdi, read_only=True):
                    pass
        except XenAPI.Failure:
            pass
        for vdi in reversed(made):
            x.VDI.destroy(vdi)
    return calls


def is_ours(name_label):
    return name_label.startswith("vr-rsz") or name_label == "novaops resize clone"


def device_farm(x, farm, seconds, overrides):
    """A device_dir for the module in which a plugged disk can be something else: until farm/stop
    exists (or seconds pass), every disk attached to the helper VM is linked into farm under its
    device name - to the simulator's raw file, or, for a VBD whose novaops_helper_vbd purpose is
    in overrides, to that path (``resize-new=/dev/full``: the copy into the new disk fails with
    ENOSPC).  The module waits for the link to appear, so it never sees the raw file instead."""
    real = os.environ["XENAPI_DEVICE_DIR"]
    helper = x.VM.get_by_uuid(os.environ["XENAPI_HELPER_VM_UUID"])
    os.makedirs(farm, exist_ok=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not os.path.exists(os.path.join(farm, "stop")):
        wanted = {}
        for vbd in x.VM.get_VBDs(helper):
            try:
                rec = x.VBD.get_record(vbd)
            except XenAPI.Failure:
                continue
            if rec["currently_attached"] and rec["device"]:
                purpose = rec["other_config"].get("novaops_helper_vbd")
                wanted[rec["device"]] = overrides.get(purpose, os.path.join(real, rec["device"]))
        for name in os.listdir(farm):
            link = os.path.join(farm, name)
            if os.path.islink(link) and wanted.get(name) != os.readlink(link):
                os.unlink(link)
        for name, target in wanted.items():
            if not os.path.lexists(os.path.join(farm, name)):
                os.symlink(target, os.path.join(farm, name))
        time.sleep(0.02)


if __name__ == "__main__":
    main()

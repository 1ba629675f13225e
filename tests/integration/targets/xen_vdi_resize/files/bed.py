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
import xmlrpc.client

import XenAPI


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


def make_image(path, size_mib, files_mib):
    """msdos table, one ext4 partition (boot flag) from sector 2048, files in it, made without mounting."""
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "etc"))
        os.makedirs(os.path.join(root, "data", "deep"))
        with open(os.path.join(root, "etc", "hostname"), "w") as f:
            f.write("instance-resize\n")
        with open(os.path.join(root, "data", "random.bin"), "wb") as f:
            f.write(os.urandom(files_mib * 1024 * 1024))
        with open(os.path.join(root, "data", "deep", "text.txt"), "w") as f:
            f.write("".join("line %d\n" % i for i in range(20000)))
        part = os.path.join(tmp, "part.img")
        sectors = size_mib * 2048
        with open(part, "wb") as f:
            f.truncate((sectors - 2048) * 512)
        run("mke2fs", "-q", "-F", "-t", "ext4", "-d", root, part)
        with open(path, "wb") as f:
            f.truncate(sectors * 512)
        run("parted", "--script", path, "mklabel", "msdos", "mkpart", "primary", "2048s", "%ds" % (sectors - 1),
            "set", "1", "boot", "on")
        run("dd", "if=" + part, "of=" + path, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none")


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
                    make_image(img, size_mib, files_mib)
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
        elif cmd == "vdi-files":       # vdi_uuid path...: sha1 of files read with debugfs, e2fsck -n
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
            out = dict(fsck_rc=fsck.returncode, fsck=fsck.stdout[-300:], files=files, table=table,
                       virtual_size=int(x.VDI.get_virtual_size(vdi)))
        elif cmd == "image-files":     # files of the source image by the same reading, before the resize
            pass
        elif cmd == "helper-vbds":     # VBDs on the helper VM, and VDIs made by resize runs
            helper = x.VM.get_by_uuid(os.environ["XENAPI_HELPER_VM_UUID"])
            out = dict(vbds=len(x.VM.get_VBDs(helper)),
                       clones=len([1 for r in x.VDI.get_all_records().values()
                                   if r["name_label"] == "novaops resize clone"]))
        elif cmd == "vdi-count":
            # only this target's VDIs: other targets may run against the same simulator
            out = dict(count=len([1 for r in x.VDI.get_all_records().values()
                                  if r["name_label"].startswith("rsz-") or r["name_label"] == "novaops resize clone"]))
        elif cmd == "fault":           # method nth code...: fail the nth call of method once
            out = dict(id=x.sim.fault_add(args[0], args[2:], args[1], "1"))
        elif cmd == "faults-clear":
            x.sim.faults_clear()
        elif cmd == "start":
            x.VM.start(x.VM.get_by_name_label(args[0])[0], False, False)
        elif cmd == "shutdown":
            x.VM.hard_shutdown(x.VM.get_by_name_label(args[0])[0])
        else:
            raise SystemExit("unknown command %s" % cmd)
    finally:
        s.xenapi.session.logout()
    print(json.dumps(out))


def destroy_vm(x, vm):
    if x.VM.get_power_state(vm) != "Halted":
        x.VM.hard_shutdown(vm)
    for vbd in x.VM.get_VBDs(vm):
        vdi = x.VBD.get_VDI(vbd)
        if vdi != "OpaqueRef:NULL":
            x.VDI.destroy(vdi)
    x.VM.destroy(vm)


if __name__ == "__main__":
    main()

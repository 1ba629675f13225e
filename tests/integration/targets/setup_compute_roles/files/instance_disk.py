"""The instance's bytes, for the roles' targets and `make demo`: put known files on a disk, read them back.

A disk here is an msdos table with one ext4 partition (boot flag) made without mounting
(mke2fs -d, parted), holding FILES. Its "sum" is the sha256 over those files' contents read
back with debugfs, so it survives every operation that keeps the data - a grow, a shrink (the
partition is rewritten), a migration, a snapshot - and changes when a byte of them does.

  lv-image <path> <size_mib> <files_mib>      a qcow2 image with the files
  lv-sum <disk path>                          sum of a libvirt disk (read with -U, the domain may run)
  glance-sum <image_id>                       sum of a qcow2/raw image in Glance
  xen-template <pool> <name> <size_mib>       a template (cloned from Debian Bookworm 12) whose disk is size_mib
  xen-fill <pool> <vm> <files_mib>            the files onto the VM's root disk (halted for it, started again)
  xen-sum <pool> <vm>                         sum of the VM's root disk, plugged read-only into the helper VM
  xen-glance-sum <image_id>                   sum of a XenAPI snapshot image, imported into pool b and forgotten
  xen-vdis <pool> <prefix>                    VDIs whose name starts with prefix (leftovers)
  glance-images <name>                        ids of the active images of that name
  glance-upload <path> <name> <disk_format>   a new image from a file; its id
  glance-delete <image_id>                    delete it (gone already is fine)

Prints JSON. The beds' addresses come from the environment (.beds/env.sh).
"""

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

E = os.environ
sys.path.insert(0, os.path.join(os.path.dirname(E["NOVAOPS_BEDS_DIR"]), "tools"))
from xapisim.testkit import login  # noqa: E402
from ext4_disk import FILES, make_image  # noqa: E402  (beside this file)

GLANCE_HEADERS = {"X-Roles": "admin", "X-Tenant-Id": "nt-ro"}


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


# boot code that halts the CPU for good (cli; hlt; jmp back): a QEMU guest booting it keeps
# running, idle, instead of executing the zeros parted leaves there until it faults
HALT = b"\xfa\xf4\xeb\xfd"


def make_raw(path, size_mib, files_mib):
    make_image(path, size_mib, files_mib, "novaops-instance", boot_code=HALT)


def files_sum(raw):
    """sha256 over FILES read from partition 1 of a raw disk (file or device), and e2fsck -n's rc."""
    table = run("parted", "--script", "--machine", raw, "unit", "s", "print", text=True).stdout
    start = int(table.splitlines()[2].split(":")[1].rstrip("s"))
    part = "%s?offset=%d" % (raw, start * 512)
    fsck = subprocess.run(["e2fsck", "-f", "-n", part], capture_output=True, check=False)
    digest = hashlib.sha256()
    for name in FILES:
        data = run("debugfs", "-R", "cat %s" % name, part).stdout
        digest.update(hashlib.sha256(data).digest())
    return dict(sum=digest.hexdigest(), fsck_rc=fsck.returncode, size=os.path.getsize(raw) if os.path.isfile(raw) else None)


def image_sum(path, fmt=None):
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "disk.raw")
        run("qemu-img", "convert", "-U", *(["-f", fmt] if fmt else []), "-O", "raw", path, raw)
        return files_sum(raw)


# ---- XenAPI --------------------------------------------------------------------------------------
def xen(pool):
    return login(pool, E, "setup_compute_roles")


def one_vm(x, name):
    vms = [v for v in x.VM.get_by_name_label(name) if not x.VM.get_is_a_template(v)]
    if len(vms) != 1:
        raise SystemExit("%d VMs named %s" % (len(vms), name))
    return vms[0]


def root_vdi(x, vm):
    for vbd in x.VM.get_VBDs(vm):
        rec = x.VBD.get_record(vbd)
        if rec["userdevice"] == "0" and rec["type"] == "Disk":
            return rec["VDI"]
    raise SystemExit("no root disk")


@contextlib.contextmanager
def plugged(x, pool, vdi, read_only):
    helper = x.VM.get_by_uuid(E["XENAPI_POOL_%s_HELPER_VM_UUID" % pool])
    vbd = x.VBD.create(dict(VM=helper, VDI=vdi, userdevice="autodetect", bootable=False,
                            mode="RO" if read_only else "RW", type="Disk", empty=False, unpluggable=True,
                            other_config={}, qos_algorithm_type="", qos_algorithm_params={}))
    try:
        x.VBD.plug(vbd)
        yield os.path.join(E["XENAPI_POOL_%s_DEVICE_DIR" % pool], x.VBD.get_device(vbd))
        x.VBD.unplug(vbd)
    finally:
        if x.VBD.get_currently_attached(vbd):
            x.VBD.unplug_force(vbd)
        x.VBD.destroy(vbd)


def xen_template(pool, name, size_mib):
    s = xen(pool)
    x = s.xenapi
    try:
        found = [t for t in x.VM.get_by_name_label(name) if x.VM.get_is_a_template(t)]
        created = not found
        if created:
            base = [t for t in x.VM.get_by_name_label("Debian Bookworm 12") if x.VM.get_is_a_template(t)][0]
            ref = x.VM.clone(base, name)
            other = x.VM.get_other_config(ref)
            other["disks"] = ('<provision><disk device="0" size="%d" sr="" bootable="true" type="system"/>'
                              '</provision>' % (size_mib * 1048576))
            other.pop("default_template", None)
            x.VM.set_other_config(ref, other)
            found = [ref]
        return dict(template=x.VM.get_uuid(found[0]), created=created)
    finally:
        s.xenapi.session.logout()


def xen_fill(pool, name, files_mib):
    s = xen(pool)
    x = s.xenapi
    try:
        vm = one_vm(x, name)
        vdi = root_vdi(x, vm)
        was = x.VM.get_power_state(vm)
        if was != "Halted":
            x.VM.hard_shutdown(vm)
        with tempfile.TemporaryDirectory() as tmp:
            img = os.path.join(tmp, "disk.img")
            make_raw(img, int(x.VDI.get_virtual_size(vdi)) // 1048576, files_mib)
            with plugged(x, pool, vdi, False) as dev:
                run("dd", "if=" + img, "of=" + dev, "bs=4M", "conv=notrunc,sparse", "status=none")
            out = files_sum(img)
        if was == "Running":
            x.VM.start(vm, False, False)
        return out
    finally:
        s.xenapi.session.logout()


def xen_vdi_sum(x, pool, vdi):
    with plugged(x, pool, vdi, True) as dev:
        out = files_sum(dev)
    out.update(size=int(x.VDI.get_virtual_size(vdi)), vdi=x.VDI.get_uuid(vdi))
    return out


def xen_sum(pool, name):
    s = xen(pool)
    try:
        x = s.xenapi
        return xen_vdi_sum(x, pool, root_vdi(x, one_vm(x, name)))
    finally:
        s.xenapi.session.logout()


def xen_glance_sum(image_id):
    s = xen("B")
    x = s.xenapi
    try:
        host = x.host.get_all()[0]
        args = {"sr_path": E["XENAPI_POOL_B_SR_DIR"], "image_id": image_id, "glance_url": E["NOVAOPS_GLANCE_URL"],
                "headers": json.dumps(GLANCE_HEADERS)}
        got = json.loads(x.host.call_plugin(host, "glance", "download_vhd", args))
        vdi = x.VDI.get_by_uuid(got["root"]["uuid"])
        try:
            return xen_vdi_sum(x, "B", vdi)
        finally:
            x.VDI.destroy(vdi)
    finally:
        s.xenapi.session.logout()


def xen_vdis(pool, prefix):
    s = xen(pool)
    x = s.xenapi
    try:
        return dict(vdis=sorted(r["uuid"] for r in x.VDI.get_all_records().values()
                                if r["name_label"].startswith(prefix)))
    finally:
        s.xenapi.session.logout()


# ---- Glance --------------------------------------------------------------------------------------
def glance_sum(image_id):
    url = "%s/v2/images/%s/file" % (E["NOVAOPS_GLANCE_URL"], image_id)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "image")
        with urllib.request.urlopen(urllib.request.Request(url, headers=GLANCE_HEADERS), timeout=120) as resp, \
                open(path, "wb") as out:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        return image_sum(path)


def glance_images(name):
    url = "%s/v2/images?name=%s" % (E["NOVAOPS_GLANCE_URL"], urllib.parse.quote(name))
    with urllib.request.urlopen(urllib.request.Request(url, headers=GLANCE_HEADERS), timeout=60) as resp:
        images = json.load(resp)["images"]
    return dict(ids=[i["id"] for i in images if i["status"] == "active"])


def glance_call(method, path, data=None, headers=None):
    request = urllib.request.Request(E["NOVAOPS_GLANCE_URL"] + path, data=data, method=method,
                                     headers=dict(GLANCE_HEADERS, **(headers or {})))
    with urllib.request.urlopen(request, timeout=120) as resp:
        body = resp.read()
    return json.loads(body) if body else {}


def glance_upload(path, name, disk_format):
    record = json.dumps(dict(name=name, disk_format=disk_format, container_format="bare")).encode()
    image = glance_call("POST", "/v2/images", record, {"Content-Type": "application/json"})
    with open(path, "rb") as data:
        glance_call("PUT", "/v2/images/%s/file" % image["id"], data.read(),
                    {"Content-Type": "application/octet-stream"})
    return dict(id=image["id"])


def glance_delete(image_id):
    try:
        glance_call("DELETE", "/v2/images/%s" % image_id)
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
    return dict(deleted=image_id)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "lv-image":
        with tempfile.TemporaryDirectory() as tmp:
            raw = os.path.join(tmp, "disk.raw")
            make_raw(raw, int(args[1]), int(args[2]))
            out = files_sum(raw)
            run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, args[0])
    elif cmd == "lv-sum":
        out = image_sum(args[0])
    elif cmd == "glance-sum":
        out = glance_sum(args[0])
    elif cmd == "xen-template":
        out = xen_template(args[0], args[1], int(args[2]))
    elif cmd == "xen-fill":
        out = xen_fill(args[0], args[1], int(args[2]))
    elif cmd == "xen-sum":
        out = xen_sum(args[0], args[1])
    elif cmd == "xen-glance-sum":
        out = xen_glance_sum(args[0])
    elif cmd == "glance-upload":
        out = glance_upload(args[0], args[1], args[2])
    elif cmd == "glance-delete":
        out = glance_delete(args[0])
    elif cmd == "glance-images":
        out = glance_images(args[0])
    elif cmd == "xen-vdis":
        out = xen_vdis(args[0], args[1])
    else:
        raise SystemExit("unknown command %s" % cmd)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

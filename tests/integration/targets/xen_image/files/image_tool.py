"""Test helper for the xen_image target (pool a of the beds, or the pool XENAPI_URL names).

  write <vdi_uuid>                 known bytes into a halted VM's VDI, through the VHD library
  read <vdi_uuid>                  sha256 of the known ranges read through the VDI's chain, and the expected one
  sr                               the SR's .vhd files and what is left in its staging area
  gets <image_id>                  GETs of the image's data in Glance's access log
  corrupt <image_id>               change one byte of guest data in the image's tarball in Glance's file store
  record <vdi_uuid>                its other_config and name_label
  vm_snapshot <vm name>            VM.snapshot; its uuid
  vm_destroy <vm uuid>             destroy a (snapshot) VM and its disks
"""

import hashlib
import json
import os
import struct
import sys
import tarfile

E = os.environ
sys.path.insert(0, os.path.join(os.path.dirname(E["NOVAOPS_BEDS_DIR"]), "tools"))
from xapisim.testkit import login  # noqa: E402
from xapisim.vhd import VHD  # noqa: E402

MiB = 1 << 20
RANGES = [(0, MiB, 1), (3 * MiB + 17, 70000, 2), (9 * MiB, MiB, 3)]
GLANCE = os.path.join(E["NOVAOPS_BEDS_DIR"], "glance")


def pattern(seed, n):
    block = bytes((seed * 31 + i * 7) % 251 for i in range(4096))
    return (block * (n // 4096 + 1))[:n]


def session():
    return login("A", E, "xen_image-target").xenapi


def sr_dir():
    return E["XENAPI_POOL_A_SR_DIR"]


def cmd_write(vdi_uuid):
    with VHD.open(os.path.join(sr_dir(), vdi_uuid + ".vhd"), writable=True) as v:
        for off, n, seed in RANGES:
            v.write(off, pattern(seed, n))
    return cmd_read(vdi_uuid)


def cmd_read(vdi_uuid):
    got, expected = hashlib.sha256(), hashlib.sha256()
    with VHD.open(os.path.join(sr_dir(), vdi_uuid + ".vhd")) as v:
        for off, n, seed in RANGES:
            got.update(v.read(off, n))
            expected.update(pattern(seed, n))
        size = v.virtual_size
    return {"sha256": got.hexdigest(), "expected": expected.hexdigest(), "virtual_size": size}


def cmd_sr():
    staging = os.path.join(sr_dir(), ".novaops-staging")
    return {"vhds": sorted(n for n in os.listdir(sr_dir()) if n.endswith(".vhd")),
            "staging": sorted(os.listdir(staging)) if os.path.isdir(staging) else []}


def cmd_gets(image_id):
    with open(os.path.join(GLANCE, "uwsgi.log"), errors="replace") as fh:
        return {"gets": sum(1 for line in fh if "GET /v2/images/%s/file " % image_id in line)}


def cmd_corrupt(image_id):
    """One byte of guest data changed in the store's tarball: inside the first allocated block of a VHD of the
    chain, so every VHD stays well-formed (vhd-util check passes) and only the checksum tells."""
    path = os.path.join(GLANCE, "images", image_id)
    with tarfile.open(path) as tar:
        starts = [member.offset_data for member in tar.getmembers()]
    with open(path, "r+b") as fh:
        for start in starts:
            fh.seek(start)
            footer = fh.read(512)
            fh.seek(start + struct.unpack(">Q", footer[16:24])[0])
            header = fh.read(1024)
            entries = struct.unpack(">I", header[28:32])[0]
            fh.seek(start + struct.unpack(">Q", header[16:24])[0])
            bat = [sector for sector in struct.unpack(">%dI" % entries, fh.read(4 * entries)) if sector != 0xFFFFFFFF]
            if bat:
                where = start + bat[0] * 512 + 512 + 4096          # past the block's sector bitmap
                fh.seek(where)
                byte = fh.read(1)
                fh.seek(where)
                fh.write(bytes([byte[0] ^ 0xFF]))
                return {"corrupted": path, "offset": where}
    raise SystemExit("no VHD of image %s holds data" % image_id)


def cmd_record(vdi_uuid):
    x = session()
    rec = x.VDI.get_record(x.VDI.get_by_uuid(vdi_uuid))
    return {"other_config": rec["other_config"], "name_label": rec["name_label"]}


def cmd_vm_snapshot(vm_name):
    """VM.snapshot of a VM (its disks' snapshots read the cached image too); the snapshot's uuid."""
    x = session()
    vm = x.VM.get_by_name_label(vm_name)[0]
    return {"uuid": x.VM.get_uuid(x.VM.snapshot(vm, vm_name + "-snap"))}


def cmd_vm_destroy(vm_uuid):
    """A (snapshot) VM and its disks."""
    x = session()
    vm = x.VM.get_by_uuid(vm_uuid)
    vdis = [x.VBD.get_VDI(vbd) for vbd in x.VM.get_VBDs(vm) if x.VBD.get_type(vbd) == "Disk"]
    x.VM.destroy(vm)
    for vdi in vdis:
        x.VDI.destroy(vdi)
    return {}


if __name__ == "__main__":
    print(json.dumps(globals()["cmd_" + sys.argv[1]](*sys.argv[2:])))

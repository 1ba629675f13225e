"""Test helper for the vhd_migrate target: make a 3-deep chain with different bytes per layer
(VDI.snapshot through the SDK, bytes written through a plug into the helper VM), read a VDI's
bytes back through its chain on either pool, hash an SR's files, fill an SR."""

import hashlib
import json
import os
import ssl
import sys
import xmlrpc.client

import XenAPI

E = os.environ
MiB = 1 << 20
LAYERS = [  # (offset, length, byte) written before each snapshot / at the leaf
    [(0, MiB, b"A"), (8 * MiB, MiB, b"a"), (30 * MiB, 3 * MiB, b"1")],
    [(MiB // 2, MiB, b"B"), (8 * MiB + 4096, 4096, b"b"), (20 * MiB, MiB, b"2")],
    [(4 * MiB, MiB, b"C"), (MiB, 512, b"c"), (31 * MiB, 512 * 3, b"3")],
]
SIZE = 40 * MiB


def session(pool):
    url = E["XENAPI_POOL_%s_URL" % pool]
    ctx = ssl.create_default_context(cafile=E["XENAPI_CA_PATH"])
    s = XenAPI.Session(url, transport=xmlrpc.client.SafeTransport(context=ctx))
    s.login_with_password(E["XENAPI_POOL_%s_USERNAME" % pool], E["XENAPI_POOL_%s_PASSWORD" % pool], "1.0", "test")
    return s.xenapi


def plugged(x, pool, vdi):
    helper = x.VM.get_by_uuid(E["XENAPI_POOL_%s_HELPER_VM_UUID" % pool])
    vbd = x.VBD.create({"VM": helper, "VDI": vdi, "userdevice": "autodetect", "bootable": False, "mode": "RW",
                        "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                        "qos_algorithm_params": {}})
    x.VBD.plug(vbd)
    return vbd, os.path.join(E["XENAPI_POOL_%s_DEVICE_DIR" % pool], x.VBD.get_device(vbd))


def unplug(x, vbd):
    x.VBD.unplug(vbd)
    x.VBD.destroy(vbd)


def expected():
    img = bytearray(SIZE)
    for layer in LAYERS:
        for off, n, b in layer:
            img[off:off + n] = b * n
    return hashlib.sha256(bytes(img)).hexdigest()


def make():
    x = session("A")
    sr = x.SR.get_by_uuid(E["XENAPI_POOL_A_SR_UUID"])
    vdi = x.VDI.create({"SR": sr, "virtual_size": str(SIZE), "name_label": "vhd-migrate-src", "type": "user",
                        "sharable": False, "read_only": False, "other_config": {}})
    snaps = []
    for i, layer in enumerate(LAYERS):
        vbd, dev = plugged(x, "A", vdi)
        with open(dev, "r+b") as fh:
            for off, n, b in layer:
                fh.seek(off)
                fh.write(b * n)
        unplug(x, vbd)
        if i < len(LAYERS) - 1:
            snaps.append(x.VDI.get_uuid(x.VDI.snapshot(vdi, {})))
    chain = [x.VDI.get_uuid(vdi)]
    while True:
        parent = x.VDI.get_sm_config(x.VDI.get_by_uuid(chain[-1])).get("vhd-parent")
        if not parent:
            break
        chain.append(parent)
    return dict(vdi=chain[0], chain=chain, snapshots=snaps, sha256=expected())


def read(pool, vdi_uuid):
    x = session(pool)
    vbd, dev = plugged(x, pool, x.VDI.get_by_uuid(vdi_uuid))
    try:
        with open(dev, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
    finally:
        unplug(x, vbd)
    return dict(sha256=digest)


def chain(pool, vdi_uuid):
    """The VDI's chain as the pool records it (leaf first), with each VDI's vhd-parent."""
    x = session(pool)
    out = [vdi_uuid]
    while True:
        parent = x.VDI.get_sm_config(x.VDI.get_by_uuid(out[-1])).get("vhd-parent")
        if not parent:
            return dict(chain=out)
        out.append(parent)


def imports(pool, source_uuid):
    """The pool's VDIs imported from that source VDI (other_config novaops_migrated_from)."""
    x = session(pool)
    return dict(vdis=sorted(r["uuid"] for r in x.VDI.get_all_records().values()
                            if r["other_config"].get("novaops_migrated_from") == source_uuid))


def sr_files(pool, only=""):
    """Hashes of the SR's files (only those of the comma-separated VDI uuids when given)."""
    d = E["XENAPI_POOL_%s_SR_DIR" % pool]
    out = {}
    wanted = set("%s.vhd" % u for u in only.split(",") if u)
    for n in sorted(os.listdir(d)):
        if wanted and n not in wanted:
            continue
        p = os.path.join(d, n)
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                out[n] = hashlib.sha256(fh.read()).hexdigest()
    return dict(files=out, staging=os.path.exists(os.path.join(d, ".novaops-staging")))


def fill(pool, on):
    x = session(pool)
    sr = x.SR.get_by_uuid(E["XENAPI_POOL_%s_SR_UUID" % pool])
    path = os.path.join(E["XENAPI_POOL_%s_SR_DIR" % pool], "filler.img")
    if on == "on":
        free = int(x.SR.get_physical_size(sr)) - int(x.SR.get_physical_utilisation(sr))
        with open(path, "ab") as fh:
            fh.truncate(os.path.getsize(path) + free - 4096)
    elif os.path.exists(path):
        os.unlink(path)
    return dict(ok=True)


def cleanup(prefix):
    """Destroy the test's VDIs (source chain and snapshots on A, imports on B)."""
    for pool in ("A", "B"):
        x = session(pool)
        for ref, rec in x.VDI.get_all_records().items():
            if rec["name_label"].startswith(prefix) and rec["managed"] and not rec["VBDs"]:
                x.VDI.destroy(ref)
    return dict(ok=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    out = {"make": make, "read": read, "sr_files": sr_files, "chain": chain, "imports": imports, "fill": fill, "cleanup": cleanup}[cmd](*sys.argv[2:])
    print(json.dumps(out))

"""Test helper for the vhd_migrate target: make a 3-deep chain with different bytes per layer
(VDI.snapshot through the SDK, bytes written through a plug into the helper VM), read a VDI's
bytes back through its chain on either pool, hash an SR's files, fill an SR, and watch a
migration from outside: which destination files arrive while the source VM is in which power
state."""

import hashlib
import json
import os
import sys
import time

E = os.environ
sys.path.insert(0, os.path.join(os.path.dirname(E["NOVAOPS_BEDS_DIR"]), "tools"))
from xapisim.testkit import login, pool_chain  # noqa: E402

MiB = 1 << 20
LAYERS = [  # (offset, length, byte) written before each snapshot / at the leaf
    [(0, MiB, b"A"), (8 * MiB, MiB, b"a"), (30 * MiB, 3 * MiB, b"1")],
    [(MiB // 2, MiB, b"B"), (8 * MiB + 4096, 4096, b"b"), (20 * MiB, MiB, b"2")],
    [(4 * MiB, MiB, b"C"), (MiB, 512, b"c"), (31 * MiB, 512 * 3, b"3")],
]
SIZE = 40 * MiB


def session(pool):
    return login(pool, E, "vhd_migrate-target").xenapi


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


def make(name):
    x = session("A")
    sr = x.SR.get_by_uuid(E["XENAPI_POOL_A_SR_UUID"])
    vdi = x.VDI.create({"SR": sr, "virtual_size": str(SIZE), "name_label": name, "type": "user",
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
    chain = pool_chain(x, x.VDI.get_uuid(vdi))
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
    """The VDI's chain as the pool records it (leaf first)."""
    return dict(chain=pool_chain(session(pool), vdi_uuid))


def imports(pool, source_uuid):
    """The pool's VDIs imported from that source VDI (other_config novaops_migrated_from)."""
    x = session(pool)
    return dict(vdis=sorted(r["uuid"] for r in x.VDI.get_all_records().values()
                            if r["other_config"].get("novaops_migrated_from") == source_uuid))


def sr_files(pool, only=""):
    """Hashes of the SR's files (only those of the comma-separated VDI uuids when given), and what is
    in its staging root (shared with other users of the pool: filter for your own names)."""
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
    staging = os.path.join(d, ".novaops-staging")
    return dict(files=out, staging=sorted(os.listdir(staging)) if os.path.isdir(staging) else [])


def _arrived(staging_root, prefix):
    """{"<disk>/<n>.vhd"} of the files rsync has begun to write under staging_root/<prefix>-<disk>/
    (its temporary ``.<n>.vhd.XXXXXX`` counts as the file)."""
    out = set()
    try:
        dirs = [d for d in os.listdir(staging_root) if d.startswith(prefix + "-")]
    except FileNotFoundError:
        return out
    for d in dirs:
        try:
            names = os.listdir(os.path.join(staging_root, d))
        except FileNotFoundError:
            continue
        for n in names:
            base = n[1:].rsplit(".", 1)[0] if n.startswith(".") else n
            if base.endswith(".vhd"):
                out.add("%s/%s" % (d[len(prefix) + 1:], base))
    return out


def watch(vm_uuid, staging_root, prefix, ready_file, limit="300"):
    """Until the VM is halted and the staging dirs are gone again (or limit s): every file that
    arrived at the destination, with the VM's power state as pool a reports it right after the
    file was seen (a state that only moves from Running to Halted)."""
    x = session("A")
    vm = x.VM.get_by_uuid(vm_uuid)
    seen = {}
    states = []
    with open(ready_file, "w") as fh:
        fh.write("ready")
    deadline = time.monotonic() + float(limit)
    while time.monotonic() < deadline:
        files = _arrived(staging_root, prefix)
        state = x.VM.get_power_state(vm)
        if not states or states[-1] != state:
            states.append(state)
        for f in files:
            seen.setdefault(f, state)
        if seen and state == "Halted" and not files:
            break
        time.sleep(0.05)
    return dict(first_seen=seen, states=states)


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
    out = {"make": make, "read": read, "sr_files": sr_files, "chain": chain, "imports": imports, "fill": fill,
           "cleanup": cleanup, "watch": watch}[cmd](*sys.argv[2:])
    print(json.dumps(out))

"""Storage on real VHD files: snapshot chains, GC coalesce, helper plug/unplug, resize,
space, SR.scan, copy/clone; every VHD cross-checked with Debian's vhdiinfo."""

import os
import re
import shutil
import subprocess
import time
import uuid as uuidlib

import pytest

from xapisim.vhd import VHD, create_differencing, create_dynamic

from conftest import failure
from xapisim.testkit import pattern

MiB = 1024 * 1024


def sr_ref(x):
    return x.pool.get_default_SR(x.pool.get_all()[0])


def new_vdi(x, size=16 * MiB, name="disk"):
    return x.VDI.create({"name_label": name, "name_description": "", "SR": sr_ref(x), "virtual_size": str(size),
                         "type": "user", "sharable": False, "read_only": False, "other_config": {}})


def path_of(sim, x, vdi):
    return os.path.join(sim.sr_dir(), x.VDI.get_uuid(vdi) + ".vhd")


def read(path, off, n):
    with VHD.open(path) as v:
        return v.read(off, n)


def write(path, off, data):
    with VHD.open(path, writable=True) as v:
        v.write(off, data)


def vhdiinfo(path):
    if not shutil.which("vhdiinfo"):
        pytest.skip("vhdiinfo (libvhdi-utils) is not installed")
    out = subprocess.run(["vhdiinfo", path], capture_output=True, text=True, check=True).stdout
    info = {}
    for line in out.splitlines():
        m = re.match(r"\s*([A-Za-z ]+?)\s*:\s*(.*)$", line)
        if m:
            info[m.group(1).strip()] = m.group(2).strip()
    return info


def check_with_vhdiinfo(sim, x):
    """Every VHD in the SR: vhdiinfo's disk type, identifier, parent identifier and parent
    file name agree with the DB (sm_config vhd-parent) and our library."""
    d = sim.sr_dir()
    recs = {v["uuid"]: v for v in x.VDI.get_all_records().values()}
    n = 0
    for name in sorted(os.listdir(d)):
        if not name.endswith(".vhd"):
            continue
        u = name[:-4]
        info = vhdiinfo(os.path.join(d, name))
        assert info["Identifier"] == u
        parent = recs[u]["sm_config"].get("vhd-parent")
        if parent:
            assert info["Disk type"] == "Differential"
            assert info["Parent identifier"] == parent
            assert os.path.basename(info["Parent filename"]) == parent + ".vhd"
        else:
            assert info["Disk type"] == "Dynamic"
        n += 1
    return n


def wait_vhd_parent(x, vdi, expected, timeout=15):
    ev_from = getattr(x.event, "from")
    token = ""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if x.VDI.get_sm_config(vdi).get("vhd-parent") == expected:
            return True
        token = ev_from(["vdi/%s" % vdi], token, 2.0)["token"]
    return False


def test_snapshot_chain_and_coalesce(sim, x):
    sim.sim("gc_stall", True)
    n0 = check_with_vhdiinfo(sim, x)           # the helper's root disk
    L = new_vdi(x)
    lpath = path_of(sim, x, L)
    A, B, C = pattern(1, 300000), pattern(2, 70000), pattern(3, 4096)
    write(lpath, 0, A)
    # first snapshot: L -> B1, S1 -> B1 ; then S1 goes (as after an upload)
    S1 = x.VDI.snapshot(L, {})
    b1 = x.VDI.get_sm_config(L)["vhd-parent"]
    assert x.VDI.get_sm_config(S1)["vhd-parent"] == b1
    b1ref = x.VDI.get_by_uuid(b1)
    b1rec = x.VDI.get_record(b1ref)
    assert b1rec["managed"] is False and b1rec["is_a_snapshot"] is False
    assert x.VDI.get_is_a_snapshot(S1) is True and x.VDI.get_snapshot_of(S1) == L
    assert x.VDI.get_uuid(L) == os.path.basename(lpath)[:-4]          # L keeps its uuid
    with VHD.open(os.path.join(sim.sr_dir(), b1 + ".vhd")) as v:
        assert v.hidden
    x.VDI.destroy(S1)
    write(lpath, MiB, B)
    # second snapshot: L -> B2 -> B1, S2 -> B2
    S2 = x.VDI.snapshot(L, {})
    b2 = x.VDI.get_sm_config(L)["vhd-parent"]
    assert b2 != b1 and x.VDI.get_sm_config(S2)["vhd-parent"] == b2
    assert x.VDI.get_sm_config(x.VDI.get_by_uuid(b2))["vhd-parent"] == b1
    with VHD.open(lpath) as v:
        chain = [os.path.basename(c.path)[:-4] for c in v.chain()]
    assert chain == [x.VDI.get_uuid(L), b2, b1]
    write(lpath, 2 * MiB + 512, C)
    spath = path_of(sim, x, S2)
    before = (read(lpath, 0, len(A)), read(lpath, MiB, len(B)), read(lpath, 2 * MiB + 512, len(C)),
              read(spath, 0, 3 * MiB))
    assert before[0] == A and before[1] == B and before[2] == C
    assert check_with_vhdiinfo(sim, x) == n0 + 4
    # the GC merges B2 into B1 and relinks L and S2 to B1
    sim.sim("gc_stall", False)
    assert wait_vhd_parent(x, L, b1)
    assert x.VDI.get_sm_config(S2)["vhd-parent"] == b1
    assert not os.path.exists(os.path.join(sim.sr_dir(), b2 + ".vhd"))
    assert failure(x.VDI.get_by_uuid, b2) == ["UUID_INVALID", "VDI", b2]
    after = (read(lpath, 0, len(A)), read(lpath, MiB, len(B)), read(lpath, 2 * MiB + 512, len(C)),
             read(spath, 0, 3 * MiB))
    assert after == before
    assert check_with_vhdiinfo(sim, x) == n0 + 3


def test_helper_plug_unplug_roundtrip(sim, x):
    helper = x.VM.get_by_uuid(sim.helper_uuid)
    L = new_vdi(x, 8 * MiB)
    lpath = path_of(sim, x, L)
    write(lpath, 0, pattern(4, 5000))
    snap = x.VDI.snapshot(L, {})              # make L a differencing leaf
    vbd = x.VBD.create({"VM": helper, "VDI": L, "userdevice": "autodetect", "bootable": False, "mode": "RW",
                        "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                        "qos_algorithm_params": {}})
    x.VBD.plug(vbd)
    dev = x.VBD.get_device(vbd)
    assert dev == "xvdb"
    raw = os.path.join(sim.device_dir, dev)
    assert os.path.getsize(raw) == 8 * MiB
    with open(raw, "r+b") as fh:
        assert fh.read(5000) == pattern(4, 5000)
        fh.seek(3 * MiB)
        fh.write(pattern(5, 9000))
        fh.seek(100)
        fh.write(b"overwritten")
    x.VBD.unplug(vbd)
    assert not os.path.exists(raw)
    expect = bytearray(pattern(4, 5000))
    expect[100:111] = b"overwritten"
    assert read(lpath, 0, 5000) == bytes(expect)
    assert read(lpath, 3 * MiB, 9000) == pattern(5, 9000)
    # the snapshot still reads the old contents
    assert read(path_of(sim, x, snap), 0, 5000) == pattern(4, 5000)
    x.VBD.destroy(vbd)
    check_with_vhdiinfo(sim, x)


def test_resize_rules(sim, x):
    vdi = new_vdi(x, 10 * MiB + 1)
    assert x.VDI.get_virtual_size(vdi) == str(12 * MiB)           # rounded up to 2 MiB
    x.VDI.resize(vdi, str(20 * MiB))
    assert x.VDI.get_virtual_size(vdi) == str(20 * MiB)
    with VHD.open(path_of(sim, x, vdi)) as v:
        assert v.virtual_size == 20 * MiB
    assert failure(x.VDI.resize, vdi, str(4 * MiB)) == [
        "SR_BACKEND_FAILURE_79", "", "VDI Invalid size [opterr=shrinking not allowed]", ""]
    helper = x.VM.get_by_uuid(sim.helper_uuid)
    vbd = x.VBD.create({"VM": helper, "VDI": vdi, "userdevice": "autodetect", "bootable": False, "mode": "RW",
                        "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                        "qos_algorithm_params": {}})
    x.VBD.plug(vbd)
    assert failure(x.VDI.resize, vdi, str(30 * MiB)) == ["VDI_IN_USE", vdi, "resize"]
    x.VDI.resize_online(vdi, str(30 * MiB))
    assert os.path.getsize(os.path.join(sim.device_dir, x.VBD.get_device(vbd))) == 30 * MiB
    x.VBD.unplug(vbd)
    assert x.VDI.get_virtual_size(vdi) == str(30 * MiB)


def test_out_of_space(sim, x):
    big = str(100 * 1024 ** 3)
    assert failure(new_vdi, x, int(big)) == ["SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""]
    vdi = new_vdi(x)
    assert failure(x.VDI.resize, vdi, big) == ["SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""]
    write(path_of(sim, x, vdi), 0, pattern(9, 4 * MiB))
    x.VDI.resize(vdi, str(64 * 1024 ** 3 - 2 * MiB))      # fits: the SR is thin
    # a full copy needs the whole virtual size free
    assert failure(x.VDI.copy, vdi, sr_ref(x)) == ["SR_BACKEND_FAILURE_44", "", "There is insufficient space", ""]


def test_copy_and_clone_data(sim, x):
    vdi = new_vdi(x)
    write(path_of(sim, x, vdi), 5 * MiB, pattern(6, 20000))
    cp = x.VDI.copy(vdi, sr_ref(x))
    assert read(path_of(sim, x, cp), 5 * MiB, 20000) == pattern(6, 20000)
    assert x.VDI.get_virtual_size(cp) == x.VDI.get_virtual_size(vdi)
    cl = x.VDI.clone(vdi, {})
    assert x.VDI.get_is_a_snapshot(cl) is False
    assert read(path_of(sim, x, cl), 5 * MiB, 20000) == pattern(6, 20000)
    check_with_vhdiinfo(sim, x)


def test_destroy_in_use_and_forget(sim, x):
    helper = x.VM.get_by_uuid(sim.helper_uuid)
    root_vbd = [b for b in x.VM.get_VBDs(helper) if x.VBD.get_userdevice(b) == "0"][0]
    root = x.VBD.get_VDI(root_vbd)
    assert failure(x.VDI.destroy, root) == ["VDI_IN_USE", root, "destroy"]
    vdi = new_vdi(x)
    path = path_of(sim, x, vdi)
    x.VDI.forget(vdi)
    assert os.path.exists(path)
    x.SR.scan(sr_ref(x))
    again = x.VDI.get_by_uuid(os.path.basename(path)[:-4])
    x.VDI.destroy(again)
    assert not os.path.exists(path)


def test_sr_scan_adopts_and_forgets(sim, x):
    d = sim.sr_dir()
    base_u, leaf_u = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    base = os.path.join(d, base_u + ".vhd")
    leaf = os.path.join(d, leaf_u + ".vhd")
    with create_dynamic(base, 6 * MiB, uuid=base_u) as v:
        v.write(0, pattern(7, 4096))
        v.hidden = True
    create_differencing(leaf, base, uuid=leaf_u).close()
    sr = sr_ref(x)
    ev_from = getattr(x.event, "from")
    token = ev_from(["vdi"], "", 0.0)["token"]
    x.SR.scan(sr)
    adds = {e["snapshot"]["uuid"] for e in ev_from(["vdi"], token, 1.0)["events"] if e["operation"] == "add"}
    assert {base_u, leaf_u} <= adds
    lref = x.VDI.get_by_uuid(leaf_u)
    assert x.VDI.get_sm_config(lref)["vhd-parent"] == base_u
    assert x.VDI.get_managed(x.VDI.get_by_uuid(base_u)) is False
    assert x.VDI.get_virtual_size(lref) == str(6 * MiB)
    assert x.VDI.get_SR(lref) == sr
    check_with_vhdiinfo(sim, x)
    x.VDI.destroy(lref)          # the base becomes garbage for the GC
    os.unlink(base) if os.path.exists(base) else None
    x.SR.scan(sr)
    assert failure(x.VDI.get_by_uuid, base_u) == ["UUID_INVALID", "VDI", base_u]


def test_sr_physical_sizes(sim, x):
    sr = sr_ref(x)
    used0 = int(x.SR.get_physical_utilisation(sr))
    vdi = new_vdi(x)
    write(path_of(sim, x, vdi), 0, pattern(8, 4 * MiB))
    used1 = int(x.SR.get_record(sr)["physical_utilisation"])
    assert used1 - used0 >= 4 * MiB
    assert int(x.VDI.get_physical_utilisation(vdi)) >= 4 * MiB

"""Cross-check of the files the library writes with libvhdi's `vhdiinfo`
(Debian package libvhdi-utils), an independent VHD reader."""

import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from xapisim.vhd import VHD, coalesce, create_differencing, create_dynamic, create_fixed  # noqa

MiB = 1024 * 1024
VHDIINFO = shutil.which("vhdiinfo") or ("/usr/bin/vhdiinfo"
                                        if os.path.exists("/usr/bin/vhdiinfo") else None)

pytestmark = pytest.mark.skipif(
    VHDIINFO is None,
    reason="vhdiinfo (Debian package libvhdi-utils) is not installed: "
           "cannot cross-check with an independent reader; apt-get install libvhdi-utils")


def vhdiinfo(path):
    r = subprocess.run([VHDIINFO, path], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    info = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s+([A-Za-z ]+?)\s*:\s*(.*)$", line)
        if m:
            info[m.group(1).strip()] = m.group(2).strip()
    size = re.search(r"\((\d+) bytes\)", info.get("Media size", ""))
    info["media_bytes"] = int(size.group(1)) if size else None
    return info


def test_fixed(tmp_path):
    p = str(tmp_path / "f.vhd")
    with create_fixed(p, 3 * MiB + 512) as v:
        u = v.uuid
    i = vhdiinfo(p)
    assert i["Disk type"] == "Fixed"
    assert i["media_bytes"] == 3 * MiB + 512
    assert i["Identifier"] == u
    assert "Parent identifier" not in i


def test_dynamic_and_resize(tmp_path):
    p = str(tmp_path / "d.vhd")
    with create_dynamic(p, 20 * MiB) as v:
        v.write(0, b"x" * 4096)
        u = v.uuid
    i = vhdiinfo(p)
    assert i["Disk type"] == "Dynamic"
    assert i["media_bytes"] == 20 * MiB
    assert i["Identifier"] == u
    with VHD.open(p, writable=True) as v:
        v.resize(300 * MiB)      # grows the BAT, moving blocks
    i = vhdiinfo(p)
    assert i["media_bytes"] == 300 * MiB and i["Identifier"] == u
    f = str(tmp_path / "f.vhd")
    create_fixed(f, MiB).close()
    with VHD.open(f, writable=True) as v:
        v.resize(2 * MiB)
    assert vhdiinfo(f)["media_bytes"] == 2 * MiB


def test_differencing_and_set_parent(tmp_path):
    a, b, c = (str(tmp_path / n) for n in ("a.vhd", "b.vhd", "c.vhd"))
    with create_dynamic(a, 8 * MiB) as v:
        ua = v.uuid
    with create_differencing(b, a) as v:
        ub = v.uuid
        v.write(0, b"b")
    with create_differencing(c, b) as v:
        uc = v.uuid
    i = vhdiinfo(c)
    assert i["Disk type"] == "Differential"
    assert i["media_bytes"] == 8 * MiB
    assert i["Identifier"] == uc
    assert i["Parent identifier"] == ub
    assert i["Parent filename"] == "b.vhd"
    coalesce(b)
    with VHD.open(c, writable=True) as v:
        v.set_parent(a)
    i = vhdiinfo(c)
    assert i["Parent identifier"] == ua
    assert i["Parent filename"] == "a.vhd"
    with VHD.open(c, writable=True) as v:
        v.resize(100 * MiB)
        v.hidden = True
    i = vhdiinfo(c)
    assert i["media_bytes"] == 100 * MiB
    assert i["Disk type"] == "Differential" and i["Parent identifier"] == ua


def test_cli_created_files(tmp_path):
    util = os.path.join(os.path.dirname(__file__), "..", "bin", "vhd-util")
    a, b = str(tmp_path / "a.vhd"), str(tmp_path / "b.vhd")
    subprocess.run([util, "create", "-n", a, "-s", "50"], check=True)
    subprocess.run([util, "snapshot", "-n", b, "-p", a], check=True)
    ia, ib = vhdiinfo(a), vhdiinfo(b)
    assert ia["Disk type"] == "Dynamic" and ia["media_bytes"] == 50 * MiB
    assert ib["Disk type"] == "Differential" and ib["Parent identifier"] == ia["Identifier"]

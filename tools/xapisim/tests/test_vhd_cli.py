"""Tests of the vhd-util compatible command (tools/xapisim/bin/vhd-util)."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from xapisim.vhd import VHD, check, create_differencing, create_dynamic  # noqa: E402

VHD_UTIL = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "bin", "vhd-util"))
MiB = 1024 * 1024


def run(*args, cwd=None):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)      # the wrapper must find the package by itself
    return subprocess.run([VHD_UTIL, *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_wrapper_is_executable_python():
    assert os.access(VHD_UTIL, os.X_OK)
    with open(VHD_UTIL) as fh:
        first = fh.readline()
    assert first.startswith("#!") and "python3" in first


def test_create_snapshot_query(tmp_path):
    a, b = str(tmp_path / "a.vhd"), str(tmp_path / "b.vhd")
    r = run("create", "-n", a, "-s", "101")
    assert r.returncode == 0, r.stdout + r.stderr
    with VHD.open(a) as v:
        assert v.disk_type == "dynamic"
        assert v.virtual_size == 102 * MiB          # rounded up to 2 MiB blocks, like blktap
    r = run("snapshot", "-n", b, "-p", a)
    assert r.returncode == 0, r.stdout
    r = run("query", "-n", b, "-v", "-s", "-p", "-f", "-d")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "102"
    assert int(lines[1]) == os.path.getsize(b)
    assert lines[2] == a
    assert lines[3] == "hidden: 0"
    assert lines[4] == "chain depth: 2"
    r = run("query", "-n", a, "-p")
    assert r.returncode == 0 and r.stdout.strip() == "%s has no parent" % a
    r = run("query", "-n", a, "-d")
    assert r.stdout.strip() == "chain depth: 1"


def test_create_with_max_size_and_fixed(tmp_path):
    a = str(tmp_path / "a.vhd")
    assert run("create", "-n", a, "-s", "10", "-S", "1024").returncode == 0
    r = run("query", "-n", a, "-v", "-S")
    assert r.stdout.split() == ["10", "1024"]
    f = str(tmp_path / "f.vhd")
    assert run("create", "-n", f, "-s", "4", "-r").returncode == 0
    with VHD.open(f) as v:
        assert v.disk_type == "fixed" and v.virtual_size == 4 * MiB


def test_snapshot_skips_empty_differencing_parent(tmp_path):
    a, b, c = (str(tmp_path / n) for n in ("a.vhd", "b.vhd", "c.vhd"))
    create_dynamic(a, 4 * MiB).close()
    create_differencing(b, a).close()        # empty: blktap snapshots its parent instead
    assert run("snapshot", "-n", c, "-p", b).returncode == 0
    assert run("query", "-n", c, "-p").stdout.strip() == a


def test_set_hidden_and_query(tmp_path):
    a = str(tmp_path / "a.vhd")
    create_dynamic(a, 4 * MiB).close()
    assert run("set", "-n", a, "-f", "hidden", "-v", "1").returncode == 0
    assert run("query", "-n", a, "-f").stdout.strip() == "hidden: 1"
    with VHD.open(a) as v:
        assert v.hidden
    assert run("set", "-n", a, "-f", "hidden", "-v", "0").returncode == 0
    assert run("query", "-n", a, "-f").stdout.strip() == "hidden: 0"
    r = run("set", "-n", a, "-f", "bogus", "-v", "1")
    assert r.returncode == 22
    assert check(a) == []


def test_modify_reparent_and_check(tmp_path):
    a, b, c = (str(tmp_path / n) for n in ("a.vhd", "b.vhd", "c.vhd"))
    with create_dynamic(a, 4 * MiB) as v:
        v.write(0, b"a" * 512)
    create_differencing(b, a).close()
    with create_differencing(c, b) as v:
        v.write(512, b"c" * 512)
    r = run("modify", "-n", c, "-p", a)
    assert r.returncode == 0, r.stdout
    assert run("query", "-n", c, "-p").stdout.strip() == a
    r = run("check", "-n", c, "-p")
    assert r.returncode == 0 and r.stdout.strip() == "%s is valid" % c
    # relative names work from the cwd, like blktap
    r = run("modify", "-n", "c.vhd", "-p", "b.vhd", cwd=str(tmp_path))
    assert r.returncode == 0
    assert run("query", "-n", c, "-p").stdout.strip() == b
    r = run("modify", "-n", c, "-p", str(tmp_path / "missing.vhd"))
    assert r.returncode != 0 and "failed to set parent" in r.stdout


def test_check_failures(tmp_path):
    a, c = str(tmp_path / "a.vhd"), str(tmp_path / "c.vhd")
    create_dynamic(a, 4 * MiB).close()
    create_differencing(c, a).close()
    os.unlink(a)
    r = run("check", "-n", c)
    assert r.returncode == 22
    assert "parent missing" in r.stdout and "is valid" not in r.stdout
    r = run("check", "-n", str(tmp_path / "nothing.vhd"))
    assert r.returncode == 2
    r = run("query", "-n", c, "-p")
    assert r.stdout.strip() == "query failed" and r.returncode != 0


def test_coalesce(tmp_path):
    a, b = str(tmp_path / "a.vhd"), str(tmp_path / "b.vhd")
    create_dynamic(a, 4 * MiB).close()
    with create_differencing(b, a) as v:
        v.write(100, b"coalesced")
    r = run("coalesce", "-n", b)
    assert r.returncode == 0, r.stdout
    with VHD.open(a) as v:
        assert v.read(100, 9) == b"coalesced"


def test_resize_and_phys_size(tmp_path):
    a = str(tmp_path / "a.vhd")
    create_dynamic(a, 4 * MiB).close()
    r = run("resize", "-n", a, "-s", "64", "-j", str(tmp_path / "journal"))
    assert r.returncode == 0, r.stdout
    assert run("query", "-n", a, "-v").stdout.strip() == "64"
    assert run("resize", "-n", a, "-s", "8", "-j", "x").returncode == 22
    phys = int(run("query", "-n", a, "-s").stdout)
    assert run("modify", "-n", a, "-s", str(phys + 4096)).returncode == 0
    assert os.path.getsize(a) == phys + 4096
    assert run("modify", "-n", a, "-s", "1024").returncode == 22
    assert check(a) == []


def test_usage_errors(tmp_path):
    r = run("frobnicate")
    assert r.returncode == 1 and "usage" in r.stderr
    r = run()
    assert r.returncode == 1 and "usage" in r.stderr
    r = run("query", "-v")
    assert r.returncode == 22 and "options" in r.stdout
    r = run("query", "-n", str(tmp_path / "none.vhd"), "-v")
    assert r.returncode == 2 and "error opening" in r.stdout
    junk = tmp_path / "junk"
    junk.write_bytes(b"x" * 2048)
    r = run("query", "-n", str(junk), "-v")
    assert r.returncode == 22
    r = run("query", "--debug", "-n", str(junk), "-v")
    assert r.returncode == 22

"""NOVAOPS_INSTANCES_DIR: the libvirt bed makes it, and refuses a place QEMU's user cannot enter.

Before, a checkout under /root (mode 700) held the demo's instances and the first domain failed
deep in libvirt ("Cannot access storage file ... Permission denied").  The kernel is asked as
libvirt-qemu, so a mode, a group QEMU's user is in, or an ACL each count.
"""

import grp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "tools" / "beds" / "beds.py"
sys.path.insert(0, str(SCRIPT.parent))
import beds  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.skipif(shutil.which("libvirtd") is None, reason="libvirt is not installed (make deps)")


@pytest.fixture
def closed():
    """A directory under /tmp only root can enter (mode 700), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="nt-beds-closed-"))
    yield path
    shutil.rmtree(path)


def start_libvirt(tmp_path, instances):
    env = dict(os.environ, NOVAOPS_BEDS_DIR=str(tmp_path / "beds"), NOVAOPS_INSTANCES_DIR=str(instances))
    return subprocess.run([sys.executable, str(SCRIPT), "start", "libvirt"], env=env, capture_output=True,
                          text=True, check=False)


def test_a_directory_qemu_cannot_enter_is_refused_naming_the_cure(tmp_path, closed):
    instances = closed / "instances"
    done = start_libvirt(tmp_path, instances)
    assert done.returncode != 0
    user = beds.qemu_user()[0]
    assert ("bed: QEMU runs as %s and cannot enter %s (mode 0700, owner root)" % (user, closed)) in done.stderr
    assert "NOVAOPS_INSTANCES_DIR" in done.stderr
    assert "setfacl -m u:%s:x %s" % (user, closed) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "beds" / "env.sh").exists(), "started although QEMU cannot reach the instances"


def test_made_when_missing_and_reachable(closed):
    os.chmod(closed, 0o755)
    instances = closed / "a" / "b"
    assert beds.qemu_cannot_enter(instances) is not None          # missing yet
    env = dict(os.environ, NOVAOPS_INSTANCES_DIR=str(instances))
    made = subprocess.run([sys.executable, "-c", "import beds; beds.Libvirt._instances_dir_qemu_can_reach()"],
                          env=dict(env, PYTHONPATH=str(SCRIPT.parent)), capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    assert instances.is_dir() and oct(instances.stat().st_mode & 0o777) == "0o755"
    assert beds.qemu_cannot_enter(instances) is None


def test_a_group_qemu_is_in_opens_the_way(closed):
    _user, _group = beds.qemu_user()
    groups = [g.gr_gid for g in grp.getgrall() if _user in g.gr_mem]
    if not groups:
        pytest.skip("%s is in no supplementary group here" % _user)
    inner = closed / "instances"
    inner.mkdir(mode=0o755)
    assert beds.qemu_cannot_enter(inner) == str(closed)
    os.chown(closed, 0, groups[0])
    os.chmod(closed, 0o710)
    assert beds.qemu_cannot_enter(inner) is None

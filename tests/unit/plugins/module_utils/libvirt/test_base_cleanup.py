# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The libvirt _base cleanup's verdicts on real files: qcow2 chains made by qemu-img, planted links, FIFOs and
hard links in an untrusted instances path, a fetch's lock held by another process."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.base_cleanup import BaseCleanup
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import base_name

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")

DAY = 24 * 3600
UUID_A = "4a9e0c1e-1111-4c57-9a52-2f1f63a1c0de"
UUID_B = "4a9e0c1e-2222-4c57-9a52-2f1f63a1c0de"


def _base(path, name, age):
    base = os.path.join(path, "_base", name)
    with open(base, "wb") as out:
        out.truncate(1 << 20)
    old = time.time() - age
    os.utime(base, (old, old))
    return base


def _overlay(path, backing, relative=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    name = os.path.relpath(backing, os.path.dirname(path)) if relative else backing
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", name, "-F", "raw", path],
                   check=True, cwd=os.path.dirname(path))


@pytest.fixture
def instances(tmp_path):
    path = str(tmp_path / "instances")
    os.makedirs(os.path.join(path, "_base"))
    return path


def _verdicts(path, min_age=24):
    cleanup = BaseCleanup(Root(path, "instances_path"), None, 2, min_age)
    cleanup.read()
    return cleanup, dict((e["name"], e["reason"]) for e in cleanup.kept), [e["name"] for e in cleanup.removable]


def test_used_bases_stay_old_unused_goes_young_unused_stays(instances):
    used, resized, rescue, chained = (base_name(x) for x in ("img-used", "img-resize", "img-rescue", "img-chain"))
    old_unused, young_unused = base_name("img-old"), base_name("img-young")
    for name in (used, resized, rescue, chained, old_unused):
        _base(instances, name, 3 * DAY)
    _base(instances, young_unused, 3600)
    _overlay(os.path.join(instances, UUID_A, "disk"), os.path.join(instances, "_base", used), relative=True)
    _overlay(os.path.join(instances, UUID_A, "disk.rescue"), os.path.join(instances, "_base", rescue))
    _overlay(os.path.join(instances, UUID_B + "_resize", "disk"), os.path.join(instances, "_base", resized))
    # a chain of two overlays: the base is reached through the middle one
    _overlay(os.path.join(instances, UUID_B, "snap.qcow2"), os.path.join(instances, "_base", chained))
    _overlay(os.path.join(instances, UUID_B, "disk"), os.path.join(instances, UUID_B, "snap.qcow2"))
    _cleanup, kept, removable = _verdicts(instances)
    assert removable == [old_unused]
    assert kept[used] == "used by %s/disk" % UUID_A
    assert kept[rescue] == "used by %s/disk.rescue" % UUID_A
    assert kept[resized] == "used by %s_resize/disk" % UUID_B
    assert "used by %s/disk" % UUID_B in kept[chained]
    assert "younger than min_age_hours 24" in kept[young_unused]
    assert _verdicts(instances, min_age=0)[2] == sorted([old_unused, young_unused])


def test_a_chain_through_a_hard_link_elsewhere_keeps_the_base(instances, tmp_path):
    used = base_name("img-linked")
    base = _base(instances, used, 3 * DAY)
    elsewhere = str(tmp_path / "volumes" / "copy")
    os.makedirs(os.path.dirname(elsewhere))
    os.link(base, elsewhere)
    _overlay(os.path.join(instances, UUID_A, "disk"), elsewhere)
    _cleanup, kept, removable = _verdicts(instances)
    assert removable == []
    assert "hard links" in kept[used]        # a hard-linked base is the operator's, whoever uses it


def test_a_planted_link_or_fifo_keeps_everything_and_says_why(instances, tmp_path):
    old_unused = base_name("img-old")
    _base(instances, old_unused, 3 * DAY)
    os.makedirs(os.path.join(instances, UUID_A))
    for plant in ("link", "fifo"):
        at = os.path.join(instances, UUID_A, "disk")
        if plant == "link":
            os.symlink(str(tmp_path / "elsewhere.qcow2"), at)
        else:
            os.mkfifo(at)
        cleanup, kept, removable = _verdicts(instances)
        assert removable == []
        assert "could not be read safely" in kept[old_unused]
        assert cleanup.unprovable and at in cleanup.unprovable[0]
        os.unlink(at)
    assert _verdicts(instances)[2] == [old_unused]


def test_what_the_cache_did_not_make_stays(instances, tmp_path):
    _base(instances, "operator-notes", 3 * DAY)
    os.symlink("/etc/passwd", os.path.join(instances, "_base", base_name("img-planted")))
    _cleanup, kept, removable = _verdicts(instances)
    assert removable == []
    assert "not a name the image cache makes" in kept["operator-notes"]
    assert "symbolic link" in kept[base_name("img-planted")]


def test_a_fetch_holding_its_lock_keeps_its_part_and_a_killed_ones_go(instances):
    running, killed = base_name("img-running"), base_name("img-killed")
    for name in (running + ".part", running + ".lock", killed + ".part", killed + ".lock"):
        _base(instances, name, 3 * DAY)
    fd = os.open(os.path.join(instances, "_base", running + ".lock"), os.O_RDWR)
    holder = subprocess.Popen(["flock", "-x", os.path.join(instances, "_base", running + ".lock"), "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while True:       # until the other process holds it
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cleanup, kept, removable = _verdicts(instances)
        assert sorted(removable) == sorted([killed + ".part", killed + ".lock"])
        assert "running fetch" in kept[running + ".part"]
        for entry in cleanup.removable:
            assert cleanup.remove(entry, 1)
        assert sorted(os.listdir(os.path.join(instances, "_base"))) == sorted([running + ".part", running + ".lock"])
    finally:
        holder.kill()
        holder.wait()
        os.close(fd)


def test_removal_reads_the_usage_again_under_the_lock(instances):
    name = base_name("img-late")
    base = _base(instances, name, 3 * DAY)
    cleanup, _kept, removable = _verdicts(instances)
    assert removable == [name]
    _overlay(os.path.join(instances, UUID_A, "disk"), base)      # a boot made an overlay meanwhile
    assert cleanup.remove(cleanup.removable[0], 1) is False
    assert os.path.exists(base)


def test_a_directory_without_base_is_refused_naming_it(tmp_path):
    from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
    for path in (str(tmp_path), str(tmp_path / "missing")):
        with pytest.raises(NovaopsError, match="instances_path %s" % path):
            BaseCleanup(Root(path, "instances_path"), None, 2, 24).read()

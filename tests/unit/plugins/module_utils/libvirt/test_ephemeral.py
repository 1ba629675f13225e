# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ephemeral and swap bases made with the real mkfs.ext4 and mkswap, in a real _base."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import ephemeral as eph
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import QemuImg
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import ImageCache

pytestmark = pytest.mark.skipif(not (shutil.which("mkfs.ext4", path="/usr/sbin:/sbin:/usr/bin")
                                     and shutil.which("mkswap", path="/usr/sbin:/sbin:/usr/bin")),
                                reason="e2fsprogs and util-linux are not installed")


def run(argv, environ_update=None):
    env = dict(os.environ, **(environ_update or {}))
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def find(name):
    return shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")


def blkid(path):
    out = subprocess.run(["blkid", "-p", "-o", "export", path], capture_output=True, text=True, check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def bases(tmp_path):
    cache = ImageCache(str(tmp_path), QemuImg(run))
    return eph.LocalBases(cache, run, find)


def test_names_as_nova_gave_them_and_back():
    assert eph.ephemeral_base_name(20, "ext4") == "ephemeral_20_%s" % hashlib.md5(b"ext4").hexdigest()[:7]
    assert eph.swap_base_name(512) == "swap_512"
    assert eph.parse_base_name(eph.ephemeral_base_name(2, "ext3")) == ("ephemeral", 2 * eph.GiB, "ext3")
    assert eph.parse_base_name("swap_512") == ("swap", 512 * eph.MiB, None)
    for other in ("ephemeral_2_0000000", "swap_x", "3f7a0c", "ephemeral_2_%s" % hashlib.md5(b"ntfs").hexdigest()[:7]):
        assert eph.parse_base_name(other) is None


def test_ephemeral_base_is_a_labelled_ext4_made_once(bases):
    path, made = bases.ephemeral(1, "ext4")
    assert made and os.path.getsize(path) == eph.GiB
    assert os.path.basename(path) == eph.ephemeral_base_name(1, "ext4")
    seen = blkid(path)
    assert seen["TYPE"] == "ext4" and seen["LABEL"] == "ephemeral0" and seen["UUID"] == eph.base_uuid(
        os.path.basename(path))
    assert bases.ephemeral(1, "ext4") == (path, False)
    assert sorted(os.listdir(os.path.dirname(path))) == [os.path.basename(path)]   # no .part, no .lock


def test_a_deleted_base_is_made_again_byte_for_byte(bases):
    """Overlays keep only what the guest wrote: a base made again must be the same file."""
    for path, _made in (bases.ephemeral(1, "ext4"), bases.swap(16)):
        before = sha256(path)
        os.unlink(path)
        again, made = bases.ensure_by_name(os.path.basename(path))
        assert made and again == path and sha256(path) == before


def test_swap_base(bases):
    path, made = bases.swap(16)
    assert made and os.path.getsize(path) == 16 * eph.MiB and blkid(path)["TYPE"] == "swap"


def test_unknown_names_and_a_missing_tool(bases):
    assert bases.ensure_by_name("3f7a0c") is None
    broken = eph.LocalBases(bases.cache, run, lambda name: None)
    with pytest.raises(NovaopsError, match="mkswap is not installed"):
        broken.swap(8)
    with pytest.raises(NovaopsError, match="Unknown ephemeral filesystem"):
        eph.mkfs_argv("ntfs", "/x", "n")


def test_a_failing_mkfs_leaves_nothing(bases, tmp_path):
    failing = eph.LocalBases(bases.cache, lambda argv, environ_update=None: (1, "", "no space left"), find)
    with pytest.raises(NovaopsError, match="mkfs.ext4 failed .*no space left"):
        failing.ephemeral(1, "ext4")
    assert os.listdir(bases.cache.base_dir) == []

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The image cache boots a XenAPI snapshot's VHD tarball (Glance ovf + vhd) as a raw base (#24).

The tarball is served by an in-process Glance, unpacked as it streams (disks/vhd_tarball.py),
the chain flattened (disks/vhd_chain.py), and qemu-img checks the raw base as any other.  Every
refused tarball leaves nothing in ``_base``.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.disks import vhd_tarball
from ansible_collections.novaops.compute.plugins.module_utils.disks.image_format import UnsafeImage
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import image_cache as img
from ansible_collections.novaops.compute.tests.unit.plugins.module_utils.disks.test_vhd_chain import (
    BLOCK, MiB, pattern, write_vhd)
from ansible_collections.novaops.compute.tests.unit.plugins.module_utils.glance.test_client import (  # noqa: F401 pylint: disable=unused-import
    server)

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")
SIZE = 6 * MiB


@pytest.fixture
def chain(tmp_path):
    """A two-file chain (a differencing leaf on a dynamic base) and the disk it holds."""
    d = tmp_path / "chain"
    d.mkdir()
    base = write_vhd(d / "1.vhd", SIZE, {0: (range(4096), pattern(1, BLOCK)), 2: (range(4096), pattern(2, BLOCK))})
    write_vhd(d / "0.vhd", SIZE, {0: (range(100, 200), pattern(3, BLOCK))}, parent=base)
    disk = bytearray(SIZE)
    disk[0:BLOCK] = pattern(1, BLOCK)
    disk[100 * 512:200 * 512] = pattern(3, BLOCK)[100 * 512:200 * 512]
    disk[2 * BLOCK:3 * BLOCK] = pattern(2, BLOCK)
    return d, bytes(disk)


def tarball(members, gz=False):
    """A tar of (name, bytes or a TarInfo-tweaking function) as the dom0 plugin writes it (GNU format)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if callable(data):
                data = data(info)
            info.size = len(data) if data is not None else 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(buf.getvalue()) if gz else buf.getvalue()


def files(d, *names):
    return [(n, (d / n).read_bytes()) for n in names]


def boot(tmp_path, qimg, server, data, raw=True, container="ovf"):  # noqa: F811
    glance = GlanceClient(server.url, project_id="p1", roles=["admin"])
    image = glance.create_image("snap", disk_format="vhd", container_format=container)
    glance.upload(image["id"], io.BytesIO(data))
    cache = img.ImageCache(str(tmp_path / "inst"), qimg, glance_factory=lambda: glance)
    return cache, cache.ensure(img.ImageRef(id=image["id"], raw=raw))


@pytest.mark.parametrize("gz", [False, True])
def test_a_snapshot_tarball_becomes_a_sparse_raw_base(tmp_path, qimg, server, chain, gz):  # noqa: F811
    d, disk = chain
    cache, facts = boot(tmp_path, qimg, server, tarball(files(d, "0.vhd", "1.vhd"), gz=gz))
    assert facts["fetched"] and facts["format"] == "raw" and facts["virtual_size"] == SIZE
    with open(facts["path"], "rb") as f:
        assert f.read() == disk
    assert os.stat(facts["path"]).st_blocks * 512 <= 2 * BLOCK + 64 * 1024       # block 1 is a hole
    assert os.listdir(cache.base_dir) == [os.path.basename(facts["path"])]      # no staging left


def test_without_raw_true_it_is_refused_before_the_download(tmp_path, qimg, server, chain):  # noqa: F811
    d, _disk = chain
    with pytest.raises(NovaopsError, match="raw: true"):
        boot(tmp_path, qimg, server, tarball(files(d, "0.vhd", "1.vhd")), raw=False)


def test_another_container_format_is_refused(tmp_path, qimg, server, chain):  # noqa: F811
    d, _disk = chain
    with pytest.raises(NovaopsError, match="container_format ova"):
        boot(tmp_path, qimg, server, tarball(files(d, "0.vhd", "1.vhd")), container="ova")


def _symlink(info):
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"


def _hardlink(info):
    info.type, info.linkname = tarfile.LNKTYPE, "0.vhd"


def _device(info):
    info.type, info.devmajor, info.devminor = tarfile.BLKTYPE, 8, 0


def _sparse(info):
    info.type = tarfile.GNUTYPE_SPARSE
    info.sparse = [(0, 0)]
    return b""


def _corrupt_footer(d):
    data = bytearray((d / "1.vhd").read_bytes())
    data[-512 + 64] ^= 0xFF
    return bytes(data)


BAD = {
    "symlink member": (lambda d: files(d, "0.vhd") + [("1.vhd", _symlink)], "not a regular file"),
    "hard link member": (lambda d: files(d, "0.vhd") + [("1.vhd", _hardlink)], "not a regular file"),
    "device member": (lambda d: files(d, "0.vhd") + [("1.vhd", _device)], "not a regular file"),
    "sparse member": (lambda d: [("0.vhd", _sparse)], "not a regular file|is sparse"),
    "path trick": (lambda d: [("../0.vhd", (d / "0.vhd").read_bytes())], "not named <n>.vhd"),
    "dot slash": (lambda d: [("./0.vhd", (d / "0.vhd").read_bytes())], "not named <n>.vhd"),
    "other name": (lambda d: files(d, "0.vhd") + [("1.vhd.bak", b"x")], "not named <n>.vhd"),
    "gap": (lambda d: files(d, "0.vhd") + [("2.vhd", (d / "1.vhd").read_bytes())], "comes where 1.vhd belongs"),
    "bad footer checksum": (lambda d: files(d, "0.vhd") + [("1.vhd", _corrupt_footer(d))], "1.vhd: the footer checksum"),
    "missing parent": (lambda d: files(d, "0.vhd"), "0.vhd: it is the last file but declares a parent"),
    "no tar": (lambda d: None, "no readable tar|holds no member"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_tarball_is_refused_and_leaves_nothing(tmp_path, qimg, server, chain, case):  # noqa: F811
    d, _disk = chain
    make, match = BAD[case]
    members = make(d)
    data = tarball(members) if members is not None else b"\0" * 8192 + b"junk"
    with pytest.raises(UnsafeImage, match=match):
        boot(tmp_path, qimg, server, data)
    assert os.listdir(str(tmp_path / "inst" / "_base")) == []


def test_members_over_the_bound_are_refused_before_they_are_written(tmp_path, chain):
    d, _disk = chain
    root = Root(str(tmp_path), "test")
    root.mkdir("stage")
    data = tarball(files(d, "0.vhd", "1.vhd"), gz=True)
    limit = (d / "0.vhd").stat().st_size + 10
    with pytest.raises(UnsafeImage, match="add up to more than %d bytes .1.vhd" % limit):
        vhd_tarball.unpack(io.BytesIO(data), root, ("stage",), max_plain=10 ** 9, max_compressed=limit)
    assert os.listdir(str(tmp_path / "stage")) == ["0.vhd"]


def test_a_member_at_a_planted_link_is_refused(tmp_path, chain):
    d, _disk = chain
    root = Root(str(tmp_path), "test")
    root.mkdir("stage")
    (tmp_path / "outside").write_bytes(b"keep")
    os.symlink(str(tmp_path / "outside"), str(tmp_path / "stage" / "0.vhd"))
    with pytest.raises(NovaopsError, match="0.vhd"):
        vhd_tarball.unpack(io.BytesIO(tarball(files(d, "0.vhd"))), root, ("stage",), 10 ** 9, 10 ** 9)
    assert (tmp_path / "outside").read_bytes() == b"keep"


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_a_plant_at_the_staging_name_is_refused_untouched(tmp_path, qimg, server, chain, kind):  # noqa: F811
    d, _disk = chain
    glance = GlanceClient(server.url, project_id="p1", roles=["admin"])
    image = glance.create_image("snap", disk_format="vhd", container_format="ovf")
    glance.upload(image["id"], io.BytesIO(tarball(files(d, "0.vhd", "1.vhd"))))
    cache = img.ImageCache(str(tmp_path / "inst"), qimg, glance_factory=lambda: glance)
    os.makedirs(cache.base_dir)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")
    at = os.path.join(cache.base_dir, img.base_name(image["id"]) + ".vhds")
    if kind == "symlink":
        os.symlink(str(outside), at)
    else:
        with open(at, "wb") as f:
            f.write(b"x")
    with pytest.raises(NovaopsError, match=r"\.vhds is"):
        cache.ensure(img.ImageRef(id=image["id"], raw=True))
    assert os.listdir(str(outside)) == ["keep"] and (outside / "keep").read_bytes() == b"keep"
    assert os.listdir(cache.base_dir) == [os.path.basename(at)]

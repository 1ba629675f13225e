# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Putting a file into the destination: whole under its final name, or not at all; scratch always gone;
nothing planted in either directory is followed."""

from __future__ import annotations

import os

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt.disk_transfer import DiskTransfer, remove_scratch
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import DiskOpError
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import LinkRefused, Root


class FakeQemuImg:
    """qemu-img convert as a byte copy (the real one is exercised by the integration target)."""

    def __init__(self, fail=False):
        self.fail = fail
        self.converted = []

    def convert(self, src, dst, out_fmt, src_fmt):
        self.converted.append((src, dst, out_fmt, src_fmt))
        with open(src, "rb") as inp, open(dst, "wb") as out:
            out.write(inp.read()[: 3 if self.fail else None])
        if self.fail:
            raise DiskOpError("qemu-img convert %s failed (rc=1): No space left on device" % src)


class FakeRemote:
    def __init__(self, fail=False):
        self.fail = fail
        self.sent = []

    def rsync_file(self, src, dest, bwlimit=0):
        self.sent.append((src, dest, bwlimit, os.path.exists(src)))
        if self.fail:
            raise NovaopsError("rsync of %s failed (rc=-9)" % src)
        return dict(bytes=os.path.getsize(src), duration=0.0)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src" / "disk"
    path.parent.mkdir()
    path.write_bytes(b"\1" * 4096 + b"\0" * 8192 + b"\2" * 10)
    os.chmod(path, 0o640)
    (tmp_path / "dst").mkdir()
    return path


def put(transfer, source, dest, method):
    """put() of the file ``source`` (a path) to ``dest`` (a path on this host, or a remote one)."""
    src = Root(str(source.parent), "instances_path")
    if transfer.remote is not None:
        return transfer.put(src, (source.name,), os.path.dirname(str(dest)), (os.path.basename(str(dest)),), method)
    return transfer.put(src, (source.name,), Root(os.path.dirname(str(dest)), "dest_instances_path"),
                        (os.path.basename(str(dest)),), method)


def test_a_local_copy_is_sparse_exact_and_keeps_the_mode(source, tmp_path):
    dest = tmp_path / "dst" / "disk"
    done = put(DiskTransfer(FakeQemuImg()), source, dest, "copy")
    assert dest.read_bytes() == source.read_bytes()
    assert oct(os.stat(dest).st_mode & 0o777) == oct(0o640)
    assert done["bytes"] == source.stat().st_size and done["method"] == "copy"
    assert os.listdir(tmp_path / "dst") == ["disk"]


def test_a_local_flatten_goes_through_a_part_file(source, tmp_path):
    qemu = FakeQemuImg()
    dest = tmp_path / "dst" / "disk"
    put(DiskTransfer(qemu), source, dest, "flatten")
    assert qemu.converted == [(str(source), str(dest) + ".part", "qcow2", "qcow2")]
    assert dest.read_bytes() == source.read_bytes()


def test_a_failed_local_flatten_leaves_no_file_under_either_name(source, tmp_path):
    with pytest.raises(DiskOpError, match="No space left"):
        put(DiskTransfer(FakeQemuImg(fail=True)), source, tmp_path / "dst" / "disk", "flatten")
    assert os.listdir(tmp_path / "dst") == []
    assert source.read_bytes().startswith(b"\1")


def test_to_another_host_the_flattened_scratch_file_is_sent_then_removed(source):
    remote = FakeRemote()
    put(DiskTransfer(FakeQemuImg(), remote, bwlimit=100), source, "/srv/i/disk", "flatten")
    assert remote.sent == [(str(source) + ".flat", "/srv/i/disk", 100, True)]
    assert sorted(os.listdir(source.parent)) == ["disk"]


def test_a_failed_send_removes_the_scratch_file_too(source):
    with pytest.raises(NovaopsError, match="rsync"):
        put(DiskTransfer(FakeQemuImg(), FakeRemote(fail=True)), source, "/srv/i/disk", "flatten")
    assert sorted(os.listdir(source.parent)) == ["disk"]


def test_a_plain_copy_to_another_host_sends_the_original(source):
    remote = FakeRemote()
    put(DiskTransfer(FakeQemuImg(), remote), source, "/srv/i/disk", "copy")
    assert remote.sent[0][0] == str(source)


def test_scratch_left_by_a_killed_run_is_removed(source):
    (source.parent / "disk.flat").write_bytes(b"half")
    assert remove_scratch(Root(str(source.parent.parent), "instances_path"), source.parent.name) == ["disk.flat"]
    assert os.listdir(source.parent) == ["disk"]


# -- links planted in either directory (#18) ----------------------------------------------------
@pytest.mark.parametrize("method", ["copy", "flatten"])
def test_a_link_planted_at_the_part_file_is_refused_and_its_target_untouched(source, tmp_path, method):
    canary = tmp_path / "canary"
    canary.write_bytes(b"canary")
    os.chmod(canary, 0o600)
    os.symlink(str(canary), str(tmp_path / "dst" / "disk.part"))
    with pytest.raises(LinkRefused, match="symbolic link"):
        put(DiskTransfer(FakeQemuImg()), source, tmp_path / "dst" / "disk", method)
    assert canary.read_bytes() == b"canary" and oct(os.stat(canary).st_mode & 0o777) == oct(0o600)
    assert not (tmp_path / "dst" / "disk").exists()


@pytest.mark.parametrize("kind", ["symlink", "dangling", "hardlink", "fifo"])
def test_a_source_that_is_no_plain_file_is_refused(tmp_path, kind):
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    canary = tmp_path / "canary"
    canary.write_bytes(b"secret")
    src = tmp_path / "src" / "disk"
    if kind == "symlink":
        os.symlink(str(canary), str(src))
    elif kind == "dangling":
        os.symlink(str(tmp_path / "nowhere"), str(src))
    elif kind == "hardlink":
        os.link(str(canary), str(src))
    else:
        os.mkfifo(str(src))
    with pytest.raises(NovaopsError) as failed:
        put(DiskTransfer(FakeQemuImg()), src, tmp_path / "dst" / "disk", "copy")
    assert str(src) in failed.value.msg
    assert os.listdir(tmp_path / "dst") == []


def test_a_destination_directory_that_is_a_link_is_refused(source, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), str(tmp_path / "linked"))
    with pytest.raises(LinkRefused, match="symbolic link"):
        put(DiskTransfer(FakeQemuImg()), source, tmp_path / "linked" / "disk", "copy")
    assert os.listdir(elsewhere) == []

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.novaops.compute.plugins.module_utils import diskops
from ansible_collections.novaops.compute.plugins.module_utils.errors import NovaopsError

MIB = 1024 * 1024

PARTED = """BYT;
/dev/xvdb:131072s:xvd:512:512:msdos:Xen Virtual Block Device:;
1:2048s:131071s:129024s:ext4::boot;
"""


def write(path, pieces, size):
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, data in pieces:
            f.seek(offset)
            f.write(data)


@pytest.mark.parametrize("dst_zeroed", [True, False])
def test_sparse_copy_identical_and_skips_holes_and_zeros(tmp_path, dst_zeroed):
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    data = os.urandom(3 * MIB + 123)
    write(src, [(0, b"\x01" * 512), (5 * MIB + 7, data), (12 * MIB, bytes(2 * MIB)), (15 * MIB - 1, b"x")],
          16 * MIB)
    if not dst_zeroed:
        write(dst, [(0, b"\xff" * 16 * MIB)], 16 * MIB)
    stats = diskops.sparse_copy(src, dst, dst_zeroed=dst_zeroed, chunk_size=MIB)
    with open(src, "rb") as a, open(dst, "rb") as b:
        assert a.read() == b.read()
    assert stats["bytes_copied"] + stats["bytes_skipped"] == 16 * MIB
    if dst_zeroed:
        assert stats["bytes_copied"] < 4 * MIB
        assert os.stat(dst).st_blocks * 512 < 6 * MIB    # holes stay holes


def test_sparse_copy_range_and_offsets(tmp_path):
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    data = os.urandom(MIB)
    write(src, [(2 * MIB, data)], 8 * MIB)
    stats = diskops.sparse_copy(src, dst, length=2 * MIB, src_offset=2 * MIB, dst_offset=MIB)
    assert os.path.getsize(dst) == 3 * MIB
    with open(dst, "rb") as f:
        f.seek(MIB)
        assert f.read(MIB) == data
    assert stats["bytes_copied"] == MIB


def test_sparse_copy_refuses_reading_past_the_end(tmp_path):
    src = str(tmp_path / "src")
    write(src, [], MIB)
    with pytest.raises(NovaopsError, match="only 1048576 bytes"):
        diskops.sparse_copy(src, str(tmp_path / "dst"), length=2 * MIB)


def test_parse_parted_and_single_ext_partition():
    layout = diskops.parse_parted_machine(PARTED)
    assert layout["sectors"] == 131072 and layout["label"] == "msdos"
    part = diskops.single_ext_partition(layout)
    assert (part["start"], part["end"], part["flags"]) == (2048, 131071, ["boot"])


@pytest.mark.parametrize("text, why", [
    (PARTED.replace("msdos", "gpt"), "'gpt' partition table"),
    (PARTED + "2:131072s:140000s:8929s:ext4::;\n", "2 partitions"),
    (PARTED.replace("1:2048s", "2:2048s"), "numbered 1"),
    (PARTED.replace("ext4", "xfs"), "holds xfs"),
    (PARTED.replace("ext4", ""), "no recognised filesystem"),
])
def test_single_ext_partition_refusals(text, why):
    with pytest.raises(NovaopsError, match=why):
        diskops.single_ext_partition(diskops.parse_parted_machine(text))


class FakeCommands(diskops.DiskCommands):
    def __init__(self, fail=None):
        self.fail = fail
        super().__init__(self._fake)

    def _fake(self, argv):
        if self.fail and self.fail in " ".join(argv):
            return 1, "", "boom"
        if argv[0] == "losetup" and "--find" in argv:
            return 0, "/dev/loop7\n", ""
        return 0, "", ""


def test_shrink_sequence_is_novas_with_boot_flag_and_loop_device():
    commands = FakeCommands()
    part = diskops.parse_parted_machine(PARTED)["partitions"][0]
    diskops.resize_partition_and_fs(commands, "/dev/xvdb", part, 81919, has_journal=True)
    assert commands.calls == [
        ["losetup", "--find", "--show", "--offset", "1048576", "--sizelimit", str(129024 * 512), "/dev/xvdb"],
        ["e2fsck", "-f", "-y", "/dev/loop7"],
        ["tune2fs", "-O", "^has_journal", "/dev/loop7"],
        ["resize2fs", "/dev/loop7", "79872s"],
        ["parted", "--script", "/dev/xvdb", "rm", "1"],
        ["parted", "--script", "/dev/xvdb", "mkpart", "primary", "2048s", "81919s"],
        ["parted", "--script", "/dev/xvdb", "set", "1", "boot", "on"],
        ["tune2fs", "-j", "/dev/loop7"],
        ["losetup", "--detach", "/dev/loop7"],
    ]


def test_grow_sequence_resizes_the_filesystem_after_the_partition_and_keeps_ext2_ext2():
    commands = FakeCommands()
    part = dict(number=1, start=63, end=1000, flags=[])
    diskops.resize_partition_and_fs(commands, "/dev/xvdb", part, 4095, has_journal=False, part_path="/dev/xvdb1")
    names = [c[0] + (" " + c[3] if c[0] == "parted" else "") for c in commands.calls]
    assert names == ["e2fsck", "parted rm", "parted mkpart", "resize2fs"]
    assert commands.calls[-1] == ["resize2fs", "/dev/xvdb1", "4033s"]


def test_failed_resize2fs_says_why_and_loop_is_detached():
    commands = FakeCommands(fail="resize2fs")
    part = diskops.parse_parted_machine(PARTED)["partitions"][0]
    with pytest.raises(NovaopsError, match="may not fit"):
        diskops.resize_partition_and_fs(commands, "/dev/xvdb", part, 81919)
    assert commands.calls[-1] == ["losetup", "--detach", "/dev/loop7"]
    assert not any(c[0] == "parted" for c in commands.calls)


def test_partition_path_prefers_the_partition_node():
    part = dict(number=1, start=2048)
    assert diskops.partition_path("/dev/xvdb", part, exists=lambda p: p == "/dev/xvdb1") == "/dev/xvdb1"
    assert diskops.partition_path("/x/xvdb", part, exists=lambda p: False) == "/x/xvdb?offset=1048576"

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import random

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


def read(path):
    with open(path, "rb") as f:
        return f.read()


def allocated(path):
    return os.stat(path).st_blocks * 512


@pytest.mark.parametrize("dst_zeroed", [True, False])
def test_sparse_copy_identical_and_skips_holes_and_zeros(tmp_path, dst_zeroed):
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    data = os.urandom(3 * MIB + 123)
    write(src, [(0, b"\x01" * 512), (5 * MIB + 7, data), (12 * MIB, bytes(2 * MIB)), (15 * MIB - 1, b"x")],
          16 * MIB)
    if not dst_zeroed:
        write(dst, [(0, b"\xff" * 16 * MIB)], 16 * MIB)
    stats = diskops.sparse_copy(src, dst, dst_zeroed=dst_zeroed, chunk_size=MIB)
    assert read(src) == read(dst)
    assert stats["bytes_copied"] + stats["bytes_skipped"] == 16 * MIB
    if dst_zeroed:
        assert stats["bytes_copied"] < 4 * MIB
        assert allocated(dst) < 4 * MIB    # holes and the written zeros stay holes


def test_sparse_copy_keeps_holes_at_filesystem_block_granularity(tmp_path):
    """Zero blocks inside data read as zeros are not written: 4 KiB holes, as cp --sparse=always makes."""
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    block = diskops.ZERO_BLOCK
    pieces = []
    for i in range(256):                 # 1 MiB of written data, every other 4 KiB block zero
        pieces.append((i * block, (os.urandom(block) if i % 2 == 0 else bytes(block))))
    write(src, pieces, MIB)
    assert allocated(src) >= MIB         # the zeros are really written in the source
    stats = diskops.sparse_copy(src, dst)
    assert read(src) == read(dst)
    assert stats == dict(stats, bytes_copied=MIB // 2, bytes_skipped=MIB // 2)
    assert allocated(dst) <= MIB // 2 + 16 * 1024     # (+ the filesystem's extent tree block)


@pytest.mark.parametrize("size", [1, 511, 4095, 4097, MIB - 1, MIB + 1, 3 * MIB + 4095])
@pytest.mark.parametrize("tail", ["data", "zeros"])
def test_sparse_copy_odd_sizes(tmp_path, size, tail):
    """A last partial block or chunk is copied when it holds data and the file ends at the same byte."""
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    pieces = [(0, b"\x07" * min(size, 100))]
    if tail == "data":
        pieces.append((size - 1, b"\x09"))
    else:
        pieces.append((max(0, size - 5000), bytes(min(size, 5000))))
    write(src, pieces, size)
    stats = diskops.sparse_copy(src, dst, chunk_size=64 * 1024)
    assert os.path.getsize(dst) == size
    assert read(src) == read(dst)
    assert stats["bytes_copied"] + stats["bytes_skipped"] == size


def test_sparse_copy_of_a_file_that_is_all_hole(tmp_path):
    src, dst = str(tmp_path / "src"), str(tmp_path / "dst")
    write(src, [], 8 * MIB)
    stats = diskops.sparse_copy(src, dst)
    assert os.path.getsize(dst) == 8 * MIB and allocated(dst) == 0
    assert (stats["bytes_copied"], stats["bytes_skipped"]) == (0, 8 * MIB)


def reference_runs(buf, length, block):
    """The runs data_runs must yield, one block at a time: whole zero blocks are skipped; a partial
    last block is skipped when zero and not following data."""
    runs, start = [], None
    for offset in range(0, length, block):
        end = min(offset + block, length)
        zero = not any(buf[offset:end])
        if zero and not (end - offset < block and start is not None):
            if start is not None:
                runs.append((start, offset))
                start = None
        elif start is None:
            start = offset
    if start is not None:
        runs.append((start, length))
    return runs


def test_data_runs_agrees_with_a_block_by_block_reading():
    rng = random.Random(5)
    block = diskops.ZERO_BLOCK
    zeros = memoryview(bytes(MIB))
    for _case in range(300):
        length = rng.choice([MIB, rng.randint(1, MIB), rng.randint(1, 3 * block)])
        buf = bytearray(MIB)
        for _piece in range(rng.randint(0, 12)):
            start = rng.randrange(length)
            n = rng.choice([1, 3, block - 1, block, block + 1, 5 * block, 70000])
            buf[start:start + n] = b"\x01" * len(buf[start:start + n])
        buf[length:length + 8] = b"\x05" * len(buf[length:length + 8])     # stale bytes past length
        assert list(diskops.data_runs(buf, length, zeros)) == reference_runs(buf, length, block)


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

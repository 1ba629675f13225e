# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import random
import re

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.disks import diskops
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

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


GPT_PARTED = """BYT;
/dev/xvdb:131072s:xvd:512:512:gpt:Xen Virtual Block Device:;
1:2048s:131038s:128991s:ext4:root:fs:legacy_boot;
"""
GPT_ENTRY = dict(type_guid="0FC63DAF-8483-4772-8E79-3D69D8477DE4", unique_guid="3B9CD917-5E4F-4417-BB8D-76393D4FC2B9",
                 first_lba=2048, last_lba=131038, attributes=4, name="root:fs")


@pytest.fixture
def gpt_on_disk(monkeypatch):
    """read_gpt answering for a standard GPT (128 entries: a 33-sector backup) with GPT_ENTRY as partition 1."""
    entries = {1: dict(GPT_ENTRY)}

    def read_gpt(path, sector_size=512):
        return dict(header=dict(entries=128, entry_size=128), partitions=entries)
    monkeypatch.setattr(diskops.gpt, "read_gpt", read_gpt)
    return entries


def gpt_layout(gpt_on_disk, text=GPT_PARTED):
    return diskops.read_disk_layout(FakeCommands(outputs={"parted": text}), "/dev/xvdb")


def test_gpt_layout_has_reserved_tail_and_partition_identity(gpt_on_disk):
    layout = gpt_layout(gpt_on_disk)
    part = diskops.single_ext_partition(layout)
    assert layout["reserved_tail"] == 33
    assert (part["name"], part["flags"], part["gpt"]) == ("root:fs", ["legacy_boot"], GPT_ENTRY)
    assert diskops.last_partition_sector(layout, 40 * MIB) == 81920 - 34


def test_gpt_partition_without_an_entry_is_refused(gpt_on_disk):
    gpt_on_disk.clear()
    with pytest.raises(NovaopsError, match="GPT has no entry 1"):
        diskops.single_ext_partition(gpt_layout(gpt_on_disk))


@pytest.mark.parametrize("text, why", [
    (PARTED.replace("msdos", "mac"), "'mac' partition table"),
    (PARTED.replace("msdos", "loop").replace("1:2048s", "1:0s"), "no partition table"),
    (PARTED + "2:131072s:140000s:8929s:ext4::;\n", "2 partitions"),
    (PARTED.replace("1:2048s", "2:2048s"), "numbered 1"),
    (PARTED.replace("ext4", "xfs"), "holds xfs"),
    (PARTED.replace("ext4", ""), "no recognised filesystem"),
])
def test_single_ext_partition_refusals(text, why):
    with pytest.raises(NovaopsError, match=why):
        diskops.single_ext_partition(diskops.parse_parted_machine(text))


class FakeCommands(diskops.DiskCommands):
    """Records argv; answers losetup with a loop device, a command named in outputs with its text (a list:
    one text per call, the last repeated)."""

    def __init__(self, fail=None, outputs=None):
        self.fail = fail
        self.outputs = outputs or {}
        super().__init__(self._fake)

    def _fake(self, argv):
        if self.fail and self.fail in " ".join(argv):
            return 1, "", "boom"
        if argv[0] == "losetup" and "--find" in argv:
            return 0, "/dev/loop7\n", ""
        out = self.outputs.get(argv[0], "")
        if isinstance(out, list):
            out = out.pop(0) if len(out) > 1 else out[0]
        return 0, out, ""


MSDOS = diskops.parse_parted_machine(PARTED)
MSDOS["reserved_tail"] = 0


def test_shrink_geometry_msdos_partition_ends_at_the_last_sector():
    part = MSDOS["partitions"][0]
    geometry = diskops.shrink_geometry(MSDOS, part, 40 * MIB, 40 * MIB, 20 * MIB)
    assert geometry == dict(new_end=81919, room=(81919 - 2048 + 1) * 512)


def test_shrink_geometry_gpt_keeps_the_backup_table_clear(gpt_on_disk):
    layout = gpt_layout(gpt_on_disk)
    geometry = diskops.shrink_geometry(layout, layout["partitions"][0], 40 * MIB - 1, 40 * MIB, 20 * MIB)
    assert geometry == dict(new_end=81886, room=(81886 - 2048 + 1) * 512)


@pytest.mark.parametrize("label", ["msdos", "gpt"])
def test_shrink_geometry_refuses_by_how_much_and_names_a_size_that_fits(gpt_on_disk, label):
    layout = gpt_layout(gpt_on_disk) if label == "gpt" else MSDOS
    part = layout["partitions"][0]
    need = 50 * MIB + 123
    with pytest.raises(NovaopsError, match="does not fit") as caught:
        diskops.shrink_geometry(layout, part, 40 * MIB, 40 * MIB, need, granule=2 * MIB)
    facts = caught.value.facts
    assert facts["short_by"] == need - facts["available"] > 0
    assert "%d bytes" % facts["short_by"] in caught.value.msg
    smallest = facts["smallest_size"]
    assert smallest % (2 * MIB) == 0
    assert diskops.shrink_geometry(layout, part, smallest, smallest, need)["room"] >= need    # and it does fit
    with pytest.raises(NovaopsError, match="does not fit"):
        diskops.shrink_geometry(layout, part, smallest - 2 * MIB, smallest - 2 * MIB, need)


@pytest.mark.parametrize("label, requested", [("msdos", 1), ("msdos", MIB), ("gpt", MIB + 33 * 512)])
def test_shrink_geometry_refuses_a_size_not_past_the_partition_start(gpt_on_disk, label, requested):
    layout = gpt_layout(gpt_on_disk) if label == "gpt" else MSDOS
    with pytest.raises(NovaopsError, match="not larger than the start of partition 1 at 1048576 bytes"):
        diskops.shrink_geometry(layout, layout["partitions"][0], requested, 2 * MIB, 0)


def test_gpt_shrink_recreates_the_same_partition_with_sgdisk(gpt_on_disk):
    commands = FakeCommands()
    part = gpt_layout(gpt_on_disk)["partitions"][0]
    diskops.resize_partition_and_fs(commands, "/dev/xvdb", part, 81886, has_journal=False, part_path="/dev/xvdb1",
                                    label="gpt")
    assert commands.calls == [
        ["e2fsck", "-f", "-y", "/dev/xvdb1"],
        ["resize2fs", "/dev/xvdb1", "79839s"],
        ["sgdisk", "--set-alignment=1", "--delete=1", "--new=1:2048:81886",
         "--typecode=1:0FC63DAF-8483-4772-8E79-3D69D8477DE4", "--partition-guid=1:3B9CD917-5E4F-4417-BB8D-76393D4FC2B9",
         "--change-name=1:root:fs", "--attributes=1:=:0000000000000004", "/dev/xvdb"],
    ]


def test_copied_gpt_disk_gets_its_backup_moved_then_is_checked(gpt_on_disk):
    part = gpt_layout(gpt_on_disk)["partitions"][0]
    gpt_on_disk[1] = dict(GPT_ENTRY, last_lba=81886)
    commands = FakeCommands(outputs={"parted": GPT_PARTED.replace("131072s", "81920s").replace(
        "131038s:128991s", "81886s:79839s")})
    diskops.check_copied_disk(commands, "/dev/xvdc", part, 81886, "gpt")
    assert [c[:2] for c in commands.calls] == [["sgdisk", "--move-second-header"], ["parted", "--script"],
                                               ["e2fsck", "-f"]]
    assert commands.calls[-1] == ["e2fsck", "-f", "-n", "/dev/xvdc?offset=1048576"]


@pytest.mark.parametrize("table, why", [
    (PARTED.replace("131071s", "81000s"), "sectors 2048-81000 instead of 2048-131071"),
    (PARTED.replace(":boot;", ":;"), "flags [] instead of ['boot']"),
    (PARTED.replace("msdos", "gpt"), "'gpt' table instead of 'msdos'"),
    (PARTED + "2:131072s:140000s:8929s:ext4::;\n", "partitions 1, 2 instead of one numbered 1"),
])
def test_a_table_that_reads_back_wrong_stops_the_resize(gpt_on_disk, table, why):
    part = MSDOS["partitions"][0]
    with pytest.raises(NovaopsError, match=re.escape(why)):
        diskops.expect_partition(FakeCommands(outputs={"parted": table}), "/dev/xvdb", part, 131071, "msdos")


def test_a_gpt_partition_that_lost_its_partuuid_stops_the_resize(gpt_on_disk):
    part = gpt_layout(gpt_on_disk)["partitions"][0]
    gpt_on_disk[1] = dict(GPT_ENTRY, unique_guid="00000000-0000-4000-8000-000000000001")
    with pytest.raises(NovaopsError, match="GPT unique_guid"):
        diskops.expect_partition(FakeCommands(outputs={"parted": GPT_PARTED}), "/dev/xvdb", part, 131038, "gpt")


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


def test_gpt_grow_moves_the_backup_first_then_fills_the_disk(gpt_on_disk):
    grown = GPT_PARTED.replace("131072s", "204800s")
    done = grown.replace("131038s:128991s", "204766s:202719s")
    commands = FakeCommands(outputs={"parted": [grown, grown, done]})
    new_end = diskops.grow_to_disk_end(commands, "/dev/xvdb", has_journal=True)
    assert new_end == 204800 - 34
    steps = [c[0] + " " + c[1] for c in commands.calls]
    assert steps == ["parted --script", "sgdisk --move-second-header", "parted --script", "losetup --find",
                     "e2fsck -f", "tune2fs -O", "sgdisk --set-alignment=1", "resize2fs /dev/loop7", "tune2fs -j",
                     "losetup --detach", "parted --script"]
    assert "--new=1:2048:204766" in commands.calls[6]
    assert commands.calls[7] == ["resize2fs", "/dev/loop7", "202719s"]

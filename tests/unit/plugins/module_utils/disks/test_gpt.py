# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import shutil
import subprocess
import uuid
import zlib

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.disks import gpt
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

SECTOR = 512
LINUX_ROOT = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
PART_GUID = "3B9CD917-5E4F-4417-BB8D-76393D4FC2B9"
DISK_GUID = "0C3F2B1A-1111-4222-8333-944455556666"


def entry(type_guid, unique_guid, first, last, attributes=0, name=""):
    return gpt.ENTRY.pack(uuid.UUID(type_guid).bytes_le, uuid.UUID(unique_guid).bytes_le, first, last, attributes,
                          name.encode("utf-16-le"))


def disk_image(sectors, entries, count=128, entry_size=128):
    """A disk image (bytes) with a primary GPT as the UEFI specification lays it out."""
    table = bytearray(count * entry_size)
    for index, raw in entries.items():
        table[(index - 1) * entry_size:(index - 1) * entry_size + len(raw)] = raw
    table_sectors = -(-len(table) // SECTOR)
    header = bytearray(gpt.HEADER.pack(gpt.SIGNATURE, 0x10000, 92, 0, 0, 1, sectors - 1, 2 + table_sectors,
                                       sectors - 2 - table_sectors, uuid.UUID(DISK_GUID).bytes_le, 2, count,
                                       entry_size, zlib.crc32(bytes(table))))
    header[16:20] = zlib.crc32(bytes(header)).to_bytes(4, "little")
    image = bytearray(sectors * SECTOR)
    image[SECTOR:SECTOR + len(header)] = header
    image[2 * SECTOR:2 * SECTOR + len(table)] = table
    return image


def test_read_gpt_header_tail_and_partition_identity(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(disk_image(4096, {1: entry(LINUX_ROOT, PART_GUID, 2048, 4062, 1 << 2, "root: fs")}))
    table = gpt.read_gpt(str(path))
    header = table["header"]
    assert (header["alternate_lba"], header["first_usable"], header["last_usable"]) == (4095, 34, 4062)
    assert header["disk_guid"] == DISK_GUID
    assert gpt.backup_sectors(header, SECTOR) == 33
    assert table["partitions"] == {1: dict(type_guid=LINUX_ROOT, unique_guid=PART_GUID, first_lba=2048,
                                           last_lba=4062, attributes=4, name="root: fs")}


def test_entries_past_the_first_are_numbered_by_their_slot(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(disk_image(4096, {2: entry(LINUX_ROOT, PART_GUID, 2048, 3000)}, count=4))
    table = gpt.read_gpt(str(path))
    assert list(table["partitions"]) == [2]
    assert gpt.backup_sectors(table["header"], SECTOR) == 2      # 4 entries fit one sector


@pytest.mark.parametrize("damage, why", [
    (lambda img: img.__setitem__(slice(SECTOR, SECTOR + 8), b"NOT GPT!"), "no GPT header"),
    (lambda img: img.__setitem__(SECTOR + 40, img[SECTOR + 40] ^ 1), "header's checksum is wrong"),
    (lambda img: img.__setitem__(2 * SECTOR + 40, img[2 * SECTOR + 40] ^ 1), "partition entries is wrong"),
])
def test_a_damaged_table_is_refused(tmp_path, damage, why):
    image = disk_image(4096, {1: entry(LINUX_ROOT, PART_GUID, 2048, 4062)})
    damage(image)
    path = tmp_path / "disk.img"
    path.write_bytes(image)
    with pytest.raises(NovaopsError, match=why):
        gpt.read_gpt(str(path))


def test_reads_what_sgdisk_wrote(tmp_path):
    """The parser against the tool that writes real GPTs (gdisk is in bindep.txt)."""
    if shutil.which("sgdisk") is None:
        pytest.skip("sgdisk is not installed (package gdisk, bindep.txt); make deps installs it")
    path = str(tmp_path / "disk.img")
    with open(path, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    subprocess.run(["sgdisk", "-o", "-n", "1:2048:100000", "-t", "1:8304", "-u", "1:" + PART_GUID,
                    "-c", "1:rootfs", "-A", "1:set:2", path], check=True, capture_output=True)
    table = gpt.read_gpt(path)
    assert table["header"]["last_usable"] == 131072 - 34
    assert gpt.backup_sectors(table["header"], SECTOR) == 33
    assert table["partitions"] == {1: dict(type_guid=LINUX_ROOT, unique_guid=PART_GUID, first_lba=2048,
                                           last_lba=100000, attributes=4, name="rootfs")}

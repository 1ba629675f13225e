# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""GUID partition tables (UEFI specification, 5.3): the primary header and its entries, read only.

What a resize needs that parted does not print: how many sectors the backup table takes
at the end of a disk (a partition on a smaller disk must end before them), and what makes
a partition itself - its type GUID, its unique GUID (the PARTUUID that fstab and boot
loaders name), its name and attribute bits - so that partition 1 re-created at a new end
is the same partition to the guest.
"""

from __future__ import annotations

import os
import struct
import uuid
import zlib

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

SIGNATURE = b"EFI PART"
# signature, revision, header size, header CRC32, reserved, this LBA, alternate LBA, first
# usable LBA, last usable LBA, disk GUID, entries LBA, entry count, entry size, entries CRC32
HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
# type GUID, unique GUID, first LBA, last LBA, attributes, name (UTF-16LE)
ENTRY = struct.Struct("<16s16sQQQ72s")
_EMPTY_GUID = bytes(16)


def _guid(raw):
    """A GUID as sgdisk and parted write it: upper case, the first three fields little-endian on disk."""
    return str(uuid.UUID(bytes_le=bytes(raw))).upper()


def parse_header(sector):
    """The primary header from the bytes of LBA 1; a NovaopsError when it is missing or damaged."""
    if len(sector) < HEADER.size or bytes(sector[:8]) != SIGNATURE:
        raise NovaopsError("The disk has no GPT header at sector 1 although parted reports a GPT label.")
    (_sig, _revision, header_size, header_crc, _reserved, my_lba, alternate_lba, first_usable, last_usable,
     disk_guid, entries_lba, entries, entry_size, entries_crc) = HEADER.unpack_from(sector)
    if not HEADER.size <= header_size <= len(sector):
        raise NovaopsError("The GPT header claims a size of %d bytes; the partition table is damaged." % header_size)
    raw = bytearray(sector[:header_size])
    raw[16:20] = bytes(4)
    if zlib.crc32(raw) != header_crc:
        raise NovaopsError("The primary GPT header's checksum is wrong: the partition table is damaged. "
                           "Repair it (sgdisk --verify shows what is wrong) before resizing.")
    if entry_size < ENTRY.size or entry_size % 8:
        raise NovaopsError("The GPT has %d-byte partition entries; the partition table is damaged." % entry_size)
    return dict(my_lba=my_lba, alternate_lba=alternate_lba, first_usable=first_usable, last_usable=last_usable,
                disk_guid=_guid(disk_guid), entries_lba=entries_lba, entries=entries, entry_size=entry_size,
                entries_crc=entries_crc)


def entries_sectors(header, sector_size):
    return -(-header["entries"] * header["entry_size"] // sector_size)


def backup_sectors(header, sector_size):
    """Sectors the backup entries and header take at the very end of the disk."""
    return entries_sectors(header, sector_size) + 1


def parse_entry(raw):
    """One partition entry; None for an unused one."""
    type_guid, unique_guid, first_lba, last_lba, attributes, name = ENTRY.unpack_from(raw)
    if type_guid == _EMPTY_GUID:
        return None
    return dict(type_guid=_guid(type_guid), unique_guid=_guid(unique_guid), first_lba=first_lba,
                last_lba=last_lba, attributes=attributes,
                name=name.decode("utf-16-le", "replace").split("\x00", 1)[0])


def parse_entries(table, header):
    """{partition number: entry} of the used entries; the entries' checksum must match the header's."""
    length = header["entries"] * header["entry_size"]
    if len(table) < length or zlib.crc32(bytes(table[:length])) != header["entries_crc"]:
        raise NovaopsError("The checksum of the GPT's partition entries is wrong: the partition table is damaged. "
                           "Repair it (sgdisk --verify shows what is wrong) before resizing.")
    found = {}
    for index in range(header["entries"]):
        entry = parse_entry(table[index * header["entry_size"]:(index + 1) * header["entry_size"]])
        if entry is not None:
            found[index + 1] = entry
    return found


def read_gpt(path, sector_size=512):
    """The primary header and the used entries of the GPT on path (a device or an image file)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise NovaopsError("Cannot open %s to read its GPT: %s" % (path, exc.strerror))
    try:
        header = parse_header(os.pread(fd, sector_size, sector_size))
        length = entries_sectors(header, sector_size) * sector_size
        table = os.pread(fd, length, header["entries_lba"] * sector_size)
    except OSError as exc:
        raise NovaopsError("Reading the GPT of %s failed: %s" % (path, exc.strerror))
    finally:
        os.close(fd)
    return dict(header=header, partitions=parse_entries(table, header))

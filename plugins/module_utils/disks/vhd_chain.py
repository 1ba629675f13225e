# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A chain of VHD files from outside (a XenAPI snapshot's ``0.vhd`` .. ``n.vhd``) read and flattened to raw.

qemu-img reads fixed and dynamic VHDs but not a differencing chain given as loose files (and
would open whatever parent a header names).  So the chain is read here, in Python, from open
descriptors, following the VHD specification:

- the footer (the last 512 bytes): cookie ``conectix``, its checksum (the one's complement of
  the sum of its other bytes), a disk type of fixed (2), dynamic (3) or differencing (4), a
  current size of whole sectors, at most ``MAX_SIZE``;
- fixed: the data is the file's first ``current size`` bytes, the footer right after it;
- dynamic and differencing: the dynamic header (``cxsparse``, checksummed) where the footer
  points, a block size that is a power of two, a block allocation table (BAT) with an entry for
  each block, within the file; each allocated block (its sector bitmap, then its data) lies
  wholly before the footer;
- the chain: ``0.vhd`` is the leaf; each file's parent unique id must be the next file's own
  unique id, the last file declares no parent (not differencing, parent id zero), and no unique
  id appears twice.  Parent names and locators are never looked at: nothing outside the given
  files is opened.

The raw result is written block by block (memory bounded by one block and the BATs): a sector
comes from the first file, leaf to base, whose bitmap has it (every sector of a fixed file's
size; in a dynamic file, only what its bitmap marks, the rest reads as zeros); a block that no
file has, or that is all zeros, stays a hole.
"""

from __future__ import annotations

import array
import os
import struct
import sys

from ansible_collections.novaops.compute.plugins.module_utils.disks.image_format import UnsafeImage

SECTOR = 512
FOOTER_COOKIE = b"conectix"
HEADER_COOKIE = b"cxsparse"
HEADER_SIZE = 1024
FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
KINDS = {FIXED: "fixed", DYNAMIC: "dynamic", DIFFERENCING: "differencing"}
UNUSED = 0xFFFFFFFF                   # a BAT entry of a block not in the file
MAX_SIZE = 2 * 1024 ** 4              # 2 TiB, the VHD format's limit as XenServer and Hyper-V use it
MIN_BLOCK = 4096                      # a bitmap of whole bytes
MAX_BLOCK = 32 * 1024 * 1024          # the largest block read at once (vhd-util and qemu write 2 MiB)
MAX_CHAIN = 64                        # files in one chain (XenServer coalesces long before)
FIXED_CHUNK = 2 * 1024 * 1024         # the unit of a chain of fixed files alone
ZERO_ID = bytes(16)


def _checksum(data, at):
    """The one's complement of the sum of the bytes of ``data`` without its checksum field at ``at``."""
    return ~(sum(data[:at]) + sum(data[at + 4:])) & 0xFFFFFFFF


class Vhd:
    """One VHD file, open read-only as ``fd``; ``name`` (its member name) for messages."""

    def __init__(self, fd, name):
        self.fd = fd
        self.name = name
        self.file_size = os.fstat(fd).st_size
        self.parent_id = ZERO_ID
        self.block_size = None
        self.bat = None
        self.bitmap_bytes = 0
        self._read_footer()
        if self.kind != FIXED:
            self._read_header()
            self._read_bat()

    def refuse(self, reason):
        raise UnsafeImage("Refusing the VHD %s: %s." % (self.name, reason))

    def _read(self, offset, length):
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            self.refuse("it ends at byte %d, before the %d bytes at %d" % (self.file_size, length, offset))
        return data

    def _read_footer(self):
        if self.file_size < SECTOR:
            self.refuse("it is %d bytes, shorter than a footer" % self.file_size)
        self.footer_at = self.file_size - SECTOR
        footer = self._read(self.footer_at, SECTOR)
        if footer[:8] != FOOTER_COOKIE:
            self.refuse("its last 512 bytes are no VHD footer (no 'conectix' cookie)")
        (stored,) = struct.unpack(">I", footer[64:68])
        if stored != _checksum(footer, 64):
            self.refuse("the footer checksum is %#010x, its bytes sum to %#010x" % (stored, _checksum(footer, 64)))
        self.data_offset, = struct.unpack(">Q", footer[16:24])
        self.size, self.kind = struct.unpack(">QxxxxI", footer[48:64])
        self.unique_id = bytes(footer[68:84])
        if self.kind not in KINDS:
            self.refuse("its disk type %d is not fixed (2), dynamic (3) or differencing (4)" % self.kind)
        if self.size % SECTOR or self.size > MAX_SIZE:
            self.refuse("its size %d is not a multiple of 512 up to %d" % (self.size, MAX_SIZE))
        if self.kind == FIXED and self.file_size != self.size + SECTOR:
            self.refuse("it is fixed with a size of %d but the file is %d bytes, not that plus the footer" % (
                self.size, self.file_size))

    def _read_header(self):
        if self.data_offset < SECTOR or self.data_offset + HEADER_SIZE > self.footer_at:
            self.refuse("its dynamic header offset %d lies outside the file" % self.data_offset)
        header = self._read(self.data_offset, HEADER_SIZE)
        if header[:8] != HEADER_COOKIE:
            self.refuse("no dynamic header ('cxsparse') at byte %d" % self.data_offset)
        (stored,) = struct.unpack(">I", header[36:40])
        if stored != _checksum(header, 36):
            self.refuse("the dynamic header checksum is %#010x, its bytes sum to %#010x" % (
                stored, _checksum(header, 36)))
        self.table_offset, _version, self.entries, self.block_size = struct.unpack(">QIII", header[16:36])
        self.parent_id = bytes(header[40:56])
        bs = self.block_size
        if bs < MIN_BLOCK or bs > MAX_BLOCK or bs & (bs - 1):
            self.refuse("its block size %d is not a power of two from %d to %d" % (bs, MIN_BLOCK, MAX_BLOCK))
        if self.entries < -(-self.size // bs):
            self.refuse("its block table has %d entries, fewer than its %d bytes need" % (self.entries, self.size))
        if self.table_offset < SECTOR or self.table_offset + 4 * self.entries > self.footer_at:
            self.refuse("its block table (%d entries at byte %d) lies outside the file" % (
                self.entries, self.table_offset))
        # the sector bitmap before each block's data, padded to whole sectors
        self.bitmap_bytes = -(-(bs // SECTOR // 8) // SECTOR) * SECTOR

    def _read_bat(self):
        count = -(-self.size // self.block_size)       # entries past the size are never read
        self.bat = array.array("I")                    # 4 bytes an entry: 4 MiB for 2 TiB of 2 MiB blocks
        self.bat.frombytes(self._read(self.table_offset, 4 * count))
        if sys.byteorder == "little":
            self.bat.byteswap()
        last = (self.footer_at - self.bitmap_bytes - self.block_size) // SECTOR   # the last sector a block may start
        for index in (i for i, sector in enumerate(self.bat) if sector != UNUSED and not 0 < sector <= last):
            self.refuse("block %d of its table points to byte %d, past the end of its data (%d)" % (
                index, self.bat[index] * SECTOR, self.footer_at))

    def sectors(self, offset, count, nbits):
        """The bitmap (an int of ``nbits`` bits, sector ``offset`` the highest) of the ``count`` sectors
        from byte ``offset`` this file has, and where their data starts (None when it has none)."""
        if offset >= self.size:
            return 0, None
        count = min(count, (self.size - offset) // SECTOR)
        if self.kind == FIXED:
            return ((1 << count) - 1) << (nbits - count), offset
        sector = self.bat[offset // self.block_size]       # offsets come block-aligned (flatten's unit)
        if sector == UNUSED:
            return 0, None
        start = sector * SECTOR
        bitmap = os.pread(self.fd, nbits // 8, start)
        mask = ((1 << count) - 1) << (nbits - count)
        return int.from_bytes(bitmap, "big") & mask, start + self.bitmap_bytes

    def describe(self):
        return dict(name=self.name, type=KINDS[self.kind], size=self.size, unique_id=self.unique_id.hex(),
                    parent_id=self.parent_id.hex() if self.parent_id != ZERO_ID else None)


def check_chain(chain):
    """Refuse a chain (leaf first) whose links do not join file to file, or whose base names a parent."""
    if not chain:
        raise UnsafeImage("Refusing the VHD tarball: it holds no VHD file.")
    if len(chain) > MAX_CHAIN:
        raise UnsafeImage("Refusing the VHD tarball: a chain of %d files, more than %d." % (len(chain), MAX_CHAIN))
    seen = {}
    for vhd in chain:
        if vhd.unique_id in seen:
            vhd.refuse("its unique id %s is also %s's (a loop)" % (vhd.unique_id.hex(), seen[vhd.unique_id]))
        seen[vhd.unique_id] = vhd.name
    for child, parent in zip(chain, chain[1:]):
        if child.kind != DIFFERENCING:
            child.refuse("it is %s, but %s follows it as its parent" % (KINDS[child.kind], parent.name))
        if child.parent_id != parent.unique_id:
            child.refuse("it names the parent %s, but the next file %s is %s" % (
                child.parent_id.hex(), parent.name, parent.unique_id.hex()))
    base = chain[-1]
    if base.kind == DIFFERENCING or base.parent_id != ZERO_ID:
        base.refuse("it is the last file but declares a parent (%s)" % base.parent_id.hex())
    sizes = {v.block_size for v in chain if v.block_size}
    if len(sizes) > 1:
        raise UnsafeImage("Refusing the VHD tarball: its files have different block sizes (%s)." % ", ".join(
            str(s) for s in sorted(sizes)))


def flatten(chain, out_fd):
    """Write the disk the chain (leaf first, checked) holds into the empty file ``out_fd`` as raw, sparse.

    Returns dict(size, written) (bytes of data written; the rest is holes)."""
    check_chain(chain)
    size = chain[0].size
    unit = next((v.block_size for v in chain if v.block_size), FIXED_CHUNK)
    nbits = unit // SECTOR
    zeros = bytes(unit)
    written = 0
    for offset in range(0, size, unit):
        length = min(unit, size - offset)
        data = _block(chain, offset, length, nbits)
        if data is not None and data != zeros[:length]:
            os.pwrite(out_fd, data, offset)
            written += length
    os.ftruncate(out_fd, size)
    return dict(size=size, written=written)


def _block(chain, offset, length, nbits):
    """The bytes of the ``length`` bytes at ``offset`` through the chain, or None when no file has any."""
    count = length // SECTOR
    need = ((1 << count) - 1) << (nbits - count)
    buf = None
    for vhd in chain:
        have, data_at = vhd.sectors(offset, count, nbits)
        take = have & need
        if not take:
            continue
        if buf is None:
            buf = bytearray(length)
        for first, last in _runs(take, nbits):
            chunk = os.pread(vhd.fd, (last - first) * SECTOR, data_at + first * SECTOR)
            if len(chunk) != (last - first) * SECTOR:
                vhd.refuse("it ends inside block data at byte %d" % (data_at + first * SECTOR))
            buf[first * SECTOR:last * SECTOR] = chunk
        need &= ~take
        if not need:
            break
    return buf


def _runs(bits, nbits):
    """The runs [first, last) of set bits of ``bits`` (sector 0 the highest of ``nbits``)."""
    raw = bits.to_bytes(nbits // 8, "big")
    first = None
    for index, byte in enumerate(raw):
        if byte in (0, 0xFF) and (first is None) == (byte == 0):
            continue
        for bit in range(8):
            on = byte & (0x80 >> bit)
            sector = index * 8 + bit
            if on and first is None:
                first = sector
            elif not on and first is not None:
                yield first, sector
                first = None
    if first is not None:
        yield first, len(raw) * 8

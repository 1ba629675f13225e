# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vhd_chain: a VHD chain from outside read and flattened to raw (#24).

Fixed and dynamic VHDs made by the real qemu-img (qemu-utils), compared with qemu-img's own
conversion; differencing chains written here after the VHD specification (as vhd-util writes
them: 2 MiB blocks, a sector bitmap before each block), and each refusal with a crafted header.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import uuid

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.disks.image_format import UnsafeImage
from ansible_collections.novaops.compute.plugins.module_utils.disks.vhd_chain import Vhd, flatten

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")
MiB = 1 << 20
BLOCK = 2 * MiB


def _sum(data, at):
    return ~(sum(data[:at]) + sum(data[at + 4:])) & 0xFFFFFFFF


def footer(size, kind, uid, data_offset):
    f = bytearray(512)
    f[0:8] = b"conectix"
    struct.pack_into(">IIQ", f, 8, 2, 0x00010000, data_offset)
    f[28:32] = b"tap "
    struct.pack_into(">QQ", f, 40, size, size)
    struct.pack_into(">I", f, 60, kind)
    f[68:84] = uid
    struct.pack_into(">I", f, 64, _sum(f, 64))
    return f


def write_vhd(path, size, blocks=None, parent=None, uid=None, fixed_data=None, entries=None, bat=None):
    """A VHD as vhd-util makes it: fixed (fixed_data), dynamic, or differencing (parent: its unique id).
    blocks: {index: (set of sectors in the block, data of the block)}."""
    uid = uid or uuid.uuid4().bytes
    if fixed_data is not None:
        with open(path, "wb") as f:
            f.write(fixed_data.ljust(size, b"\0"))
            f.write(footer(size, 2, uid, 0xFFFFFFFFFFFFFFFF))
        return uid
    kind = 4 if parent else 3
    entries = entries if entries is not None else -(-size // BLOCK)
    table = 512 + 1024
    data_start = table + -(-(entries * 4) // 512) * 512
    bat = list(bat) if bat is not None else [0xFFFFFFFF] * entries
    body = bytearray()
    for index, (sectors, data) in sorted((blocks or {}).items()):
        bitmap = bytearray(512)
        for s in sectors:
            bitmap[s // 8] |= 0x80 >> (s % 8)
        bat[index] = (data_start + len(body)) // 512
        body += bitmap + data.ljust(BLOCK, b"\0")
    head = bytearray(1024)
    head[0:8] = b"cxsparse"
    struct.pack_into(">QQIII", head, 8, 0xFFFFFFFFFFFFFFFF, table, 0x00010000, entries, BLOCK)
    if parent:
        head[40:56] = parent
    struct.pack_into(">I", head, 36, _sum(head, 36))
    foot = footer(size, kind, uid, 512)
    with open(path, "wb") as f:
        f.write(foot + head + struct.pack(">%dI" % entries, *bat).ljust(data_start - table, b"\xff") + body + foot)
    return uid


def pattern(seed, n):
    return (bytes((seed * 31 + i * 7) % 251 for i in range(4096)) * (n // 4096 + 1))[:n]


def open_chain(paths):
    return [Vhd(os.open(p, os.O_RDONLY), os.path.basename(p)) for p in paths]


def flat(tmp_path, paths):
    chain = open_chain(paths)
    out = tmp_path / "flat.raw"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        facts = flatten(chain, fd)
    finally:
        os.close(fd)
        for v in chain:
            os.close(v.fd)
    return out, facts


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@needs_qemu_img
@pytest.mark.parametrize("subformat", ["dynamic", "fixed"])
def test_qemu_made_vhd_flattens_as_qemu_reads_it(tmp_path, subformat):
    raw = tmp_path / "src.raw"
    with open(raw, "wb") as f:
        f.truncate(24 * MiB)
        f.seek(0)
        f.write(pattern(1, MiB))
        f.seek(5 * MiB + 4096)
        f.write(pattern(2, 3 * MiB + 512))
        f.seek(20 * MiB - 512)
        f.write(pattern(3, 512))
    vhd = tmp_path / "0.vhd"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=%s,force_size=on" % subformat,
                    str(raw), str(vhd)], check=True)
    back = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-f", "vpc", "-O", "raw", str(vhd), str(back)], check=True)
    out, facts = flat(tmp_path, [vhd])
    assert facts["size"] == os.path.getsize(back)
    assert sha(out) == sha(back)
    assert open(out, "rb").read(os.path.getsize(raw)) == open(raw, "rb").read()
    if subformat == "dynamic":
        assert os.stat(out).st_blocks * 512 < 12 * MiB        # the untouched blocks are holes


@needs_qemu_img
def test_qemu_created_empty_dynamic_is_all_holes(tmp_path):
    vhd = tmp_path / "0.vhd"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vpc", str(vhd), "64M"], check=True)
    out, facts = flat(tmp_path, [vhd])
    assert facts["written"] == 0 and os.path.getsize(out) == facts["size"] > 60 * MiB
    assert os.stat(out).st_blocks == 0


def test_differencing_chain_takes_each_sector_from_the_first_file_that_has_it(tmp_path):
    size = 8 * MiB
    base = write_vhd(tmp_path / "2.vhd", size, {0: (range(4096), pattern(1, BLOCK)), 2: (range(4096), pattern(2, BLOCK))})
    # the middle overrides sectors 8..15 of block 0 and has block 1 (only its first half marked)
    mid = write_vhd(tmp_path / "1.vhd", size, {0: ({8, 9, 10, 11, 12, 13, 14, 15}, pattern(3, BLOCK)),
                                               1: (range(2048), pattern(4, BLOCK))}, parent=base)
    # the leaf overrides sector 9 and the last sector of block 2; garbage in unmarked sectors is not read
    write_vhd(tmp_path / "0.vhd", size, {0: ({9}, pattern(5, BLOCK)), 2: ({4095}, pattern(6, BLOCK))}, parent=mid)
    out, facts = flat(tmp_path, [tmp_path / "0.vhd", tmp_path / "1.vhd", tmp_path / "2.vhd"])
    got = open(out, "rb").read()
    expect = bytearray(size)
    expect[0:BLOCK] = pattern(1, BLOCK)
    expect[8 * 512:16 * 512] = pattern(3, BLOCK)[8 * 512:16 * 512]
    expect[9 * 512:10 * 512] = pattern(5, BLOCK)[9 * 512:10 * 512]
    expect[BLOCK:BLOCK + MiB] = pattern(4, BLOCK)[:MiB]
    expect[2 * BLOCK:3 * BLOCK] = pattern(2, BLOCK)
    expect[3 * BLOCK - 512:3 * BLOCK] = pattern(6, BLOCK)[-512:]
    assert got == bytes(expect)
    assert facts == dict(size=size, written=3 * BLOCK)          # block 3 is in no file: a hole
    assert os.stat(out).st_blocks * 512 <= 3 * BLOCK


def test_fixed_base_under_a_differencing_leaf(tmp_path):
    size = 4 * MiB
    base = write_vhd(tmp_path / "1.vhd", size, fixed_data=pattern(7, size))
    write_vhd(tmp_path / "0.vhd", size, {1: ({0, 4095}, pattern(8, BLOCK))}, parent=base)
    out, _facts = flat(tmp_path, [tmp_path / "0.vhd", tmp_path / "1.vhd"])
    expect = bytearray(pattern(7, size))
    expect[BLOCK:BLOCK + 512] = pattern(8, BLOCK)[:512]
    expect[2 * BLOCK - 512:2 * BLOCK] = pattern(8, BLOCK)[-512:]
    assert open(out, "rb").read() == bytes(expect)


def test_unaligned_size_keeps_its_last_partial_block(tmp_path):
    size = 3 * MiB + 4096
    write_vhd(tmp_path / "0.vhd", size, {1: (range(4096), pattern(9, BLOCK))})
    out, facts = flat(tmp_path, [tmp_path / "0.vhd"])
    assert facts["size"] == os.path.getsize(out) == size
    assert open(out, "rb").read()[BLOCK:] == pattern(9, BLOCK)[:size - BLOCK]


# -- refusals, each with a crafted file --------------------------------------------------------------


def _patch(path, offset, data, fix_footer=False):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)
        if fix_footer:
            size = os.path.getsize(path)
            f.seek(size - 512)
            foot = bytearray(f.read(512))
            struct.pack_into(">I", foot, 64, _sum(foot, 64))
            f.seek(size - 512)
            f.write(foot)


def refused(tmp_path, paths, match):
    with pytest.raises(UnsafeImage, match=match):
        flat(tmp_path, paths)


def test_bad_footer_checksum_is_refused(tmp_path):
    p = tmp_path / "0.vhd"
    write_vhd(p, 4 * MiB, {0: (range(4096), pattern(1, BLOCK))})
    size = os.path.getsize(p)
    _patch(p, size - 512 + 48, struct.pack(">Q", 1 << 40))        # a bigger size, checksum not updated
    refused(tmp_path, [p], "0.vhd: the footer checksum")


def test_bad_dynamic_header_checksum_is_refused(tmp_path):
    p = tmp_path / "0.vhd"
    write_vhd(p, 4 * MiB)
    _patch(p, 512 + 16, struct.pack(">Q", 0))                     # the BAT offset moved, checksum not updated
    refused(tmp_path, [p], "dynamic header checksum")


def test_no_footer_is_refused(tmp_path):
    p = tmp_path / "0.vhd"
    p.write_bytes(b"\0" * 4096)
    refused(tmp_path, [p], "no VHD footer")


def test_bat_pointing_past_the_file_is_refused(tmp_path):
    p = tmp_path / "0.vhd"
    write_vhd(p, 4 * MiB, bat=[0xFFFFFFFF, 10 ** 6])
    refused(tmp_path, [p], "block 1 of its table points to byte 512000000, past the end")


def test_block_overlapping_the_footer_is_refused(tmp_path):
    p = tmp_path / "0.vhd"
    write_vhd(p, 4 * MiB, {0: (range(4096), pattern(1, BLOCK))})
    with open(p, "r+b") as f:                                     # the footer moved into the block's data
        f.seek(-512, 2)
        foot = f.read(512)
        f.truncate(os.path.getsize(p) - 1024 * 1024)
        f.seek(0, 2)
        f.write(foot)
    refused(tmp_path, [p], "block 0 of its table points to byte 2048")


def test_too_few_bat_entries_are_refused(tmp_path):
    p = tmp_path / "0.vhd"
    write_vhd(p, 8 * MiB, entries=2)
    refused(tmp_path, [p], "2 entries, fewer than")


def test_parent_uuid_that_does_not_match_is_refused(tmp_path):
    write_vhd(tmp_path / "1.vhd", 4 * MiB)
    write_vhd(tmp_path / "0.vhd", 4 * MiB, parent=uuid.uuid4().bytes)
    refused(tmp_path, [tmp_path / "0.vhd", tmp_path / "1.vhd"], "0.vhd: it names the parent .* but the next file 1.vhd")


def test_base_that_names_a_parent_is_refused(tmp_path):
    base = write_vhd(tmp_path / "1.vhd", 4 * MiB, parent=uuid.uuid4().bytes)
    write_vhd(tmp_path / "0.vhd", 4 * MiB, parent=base)
    refused(tmp_path, [tmp_path / "0.vhd", tmp_path / "1.vhd"], "1.vhd: it is the last file but declares a parent")


def test_a_loop_is_refused(tmp_path):
    a, b = uuid.uuid4().bytes, uuid.uuid4().bytes
    write_vhd(tmp_path / "0.vhd", 4 * MiB, parent=b, uid=a)
    write_vhd(tmp_path / "1.vhd", 4 * MiB, parent=a, uid=b)
    refused(tmp_path, [tmp_path / "0.vhd", tmp_path / "1.vhd"], "declares a parent")
    write_vhd(tmp_path / "2.vhd", 4 * MiB, uid=a)                 # the same unique id again, as a base
    refused(tmp_path, [tmp_path / "0.vhd", tmp_path / "1.vhd", tmp_path / "2.vhd"], r"2.vhd: its unique id .* \(a loop\)")


def test_dynamic_file_with_a_parent_after_it_is_refused(tmp_path):
    write_vhd(tmp_path / "1.vhd", 4 * MiB)
    write_vhd(tmp_path / "0.vhd", 4 * MiB)
    refused(tmp_path, [tmp_path / "0.vhd", tmp_path / "1.vhd"], "0.vhd: it is dynamic, but 1.vhd follows it")


def test_fixed_file_of_the_wrong_length_is_refused(tmp_path):
    p = tmp_path / "0.vhd"
    write_vhd(p, 4 * MiB, fixed_data=b"x")
    with open(p, "r+b") as f:
        foot = bytearray(f.read()[-512:])
        struct.pack_into(">QQ", foot, 40, 8 * MiB, 8 * MiB)
        struct.pack_into(">I", foot, 64, _sum(foot, 64))
        f.seek(-512, 2)
        f.write(foot)
    refused(tmp_path, [p], "fixed with a size of 8388608 but the file is")

"""Tests of the VHD format library (xapisim.vhd)."""

import os
import random
import shutil
import struct
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from xapisim.vhd import (VHD, VHDError, BLOCK_SIZE, check, coalesce, create_differencing,  # noqa
                         create_dynamic, create_fixed, export_raw, import_raw)
from xapisim.vhd import format as F  # noqa: E402

MiB = 1024 * 1024


def pattern(n, seed):
    r = random.Random(seed)
    return r.randbytes(n)


class Model:
    """Reference model of a virtual disk: a bytearray."""

    def __init__(self, size):
        self.buf = bytearray(size)

    def write(self, off, data):
        self.buf[off:off + len(data)] = data


# ------------------------------------------------------------- raw structure
def test_footer_fields_dynamic(tmp_path):
    p = tmp_path / "d.vhd"
    before = F.vhd_time()
    create_dynamic(str(p), 20 * MiB, uuid="12345678-1234-5678-9abc-def012345678").close()
    raw = p.read_bytes()
    assert len(raw) % 512 == 0
    foot = raw[-512:]
    assert foot == raw[:512]
    assert foot[0:8] == b"conectix"
    assert struct.unpack(">I", foot[8:12])[0] == 2
    assert struct.unpack(">I", foot[12:16])[0] == 0x00010000
    assert struct.unpack(">Q", foot[16:24])[0] == 512
    ts = struct.unpack(">I", foot[24:28])[0]
    assert before <= ts <= F.vhd_time() + 1
    assert foot[28:32] == b"tap\0"
    assert struct.unpack(">I", foot[32:36])[0] == 0x00010003
    assert foot[36:40] == b"Wi2k"
    assert struct.unpack(">QQ", foot[40:56]) == (20 * MiB, 20 * MiB)
    assert struct.unpack(">I", foot[60:64])[0] == 3
    ck = struct.unpack(">I", foot[64:68])[0]
    assert ck == (~(sum(foot) - sum(foot[64:68]))) & 0xFFFFFFFF
    assert foot[68:84] == bytes.fromhex("123456781234567 89abcdef012345678".replace(" ", ""))
    assert foot[84] == 0 and foot[85] == 0
    hdr = raw[512:1536]
    assert hdr[0:8] == b"cxsparse"
    assert struct.unpack(">Q", hdr[8:16])[0] == 0xFFFFFFFFFFFFFFFF
    table = struct.unpack(">Q", hdr[16:24])[0]
    assert table % 512 == 0
    assert struct.unpack(">I", hdr[24:28])[0] == 0x00010000
    assert struct.unpack(">I", hdr[28:32])[0] == 10
    assert struct.unpack(">I", hdr[32:36])[0] == BLOCK_SIZE
    hck = struct.unpack(">I", hdr[36:40])[0]
    assert hck == (~(sum(hdr) - sum(hdr[36:40]))) & 0xFFFFFFFF
    bat = struct.unpack(">10I", raw[table:table + 40])
    assert all(e == 0xFFFFFFFF for e in bat)


def test_geometry_matches_spec_examples():
    # 127 MiB -> spec algorithm: 260096 sectors
    c = F.chs(127 * MiB)
    cyl, heads, spt = c >> 16, (c >> 8) & 0xFF, c & 0xFF
    assert cyl * heads * spt <= 127 * MiB // 512
    assert (heads, spt) in ((4, 17), (16, 31), (16, 63), (16, 255)) or heads <= 16
    big = F.chs(3 * 1024 ** 4)
    assert big == (65535 << 16 | 16 << 8 | 255)


def test_fixed_round_trip(tmp_path):
    p = str(tmp_path / "f.vhd")
    v = create_fixed(p, 5 * MiB + 3)
    assert v.virtual_size == 5 * MiB + 512
    assert v.disk_type == "fixed"
    v.write(1000, b"hello world")
    v.write(5 * MiB, b"\x01" * 512)
    v.close()
    assert os.path.getsize(p) == 5 * MiB + 512 + 512
    with VHD.open(p) as v:
        assert v.read(995, 20) == b"\0" * 5 + b"hello world" + b"\0" * 4
        assert v.read(5 * MiB, 512) == b"\x01" * 512
        assert v.parent_path is None and v.parent_uuid is None
    raw = open(p, "rb").read()
    assert struct.unpack(">Q", raw[-512:][16:24])[0] == 0xFFFFFFFFFFFFFFFF
    assert struct.unpack(">I", raw[-512:][60:64])[0] == 2
    assert check(p) == []


def test_dynamic_round_trip_partial_writes(tmp_path):
    p = str(tmp_path / "d.vhd")
    size = 9 * MiB + 4096    # partial last block
    m = Model(size)
    with create_dynamic(p, size) as v:
        for off, n, seed in [(0, 100, 1), (511, 3, 2), (BLOCK_SIZE - 10, 30, 3),
                             (3 * BLOCK_SIZE, BLOCK_SIZE, 4), (size - 700, 700, 5),
                             (5 * MiB + 1, 70000, 6)]:
            d = pattern(n, seed)
            v.write(off, d)
            m.write(off, d)
        assert v.read(0, size) == bytes(m.buf)
    with VHD.open(p) as v:
        assert v.read(0, size) == bytes(m.buf)
        assert v.allocated_blocks() == [0, 1, 2, 3, 4]
        bm = v.block_bitmap(3)
        assert bm == b"\xff" * 512
        bm0 = v.block_bitmap(0)
        # sectors 0 and 1 (writes at 0 and 511..513) and the last one (BLOCK_SIZE - 10)
        assert bm0[0] == 0xC0 and bm0[-1] == 0x01 and not any(bm0[1:-1])
        ext = list(v.data_extents())
        assert ext[0] == (0, 1024)
        with pytest.raises(VHDError):
            v.write(0, b"x")    # read-only
        with pytest.raises(VHDError):
            v.read(size - 1, 2)
    assert check(p) == []


def test_three_deep_chain(tmp_path):
    size = 12 * MiB
    base, mid, leaf = (str(tmp_path / n) for n in ("base.vhd", "mid.vhd", "leaf.vhd"))
    m = Model(size)
    with create_dynamic(base, size) as v:
        for off, n, s in [(0, 3 * MiB, 10), (7 * MiB + 3, 1000, 11)]:
            d = pattern(n, s)
            v.write(off, d)
            m.write(off, d)
    with create_differencing(mid, base) as v:
        for off, n, s in [(100, 5, 20), (2 * MiB - 1, 2, 21), (9 * MiB, 600, 22)]:
            d = pattern(n, s)
            v.write(off, d)
            m.write(off, d)
    with create_differencing(leaf, mid) as v:
        for off, n, s in [(1, 1, 30), (5 * MiB, BLOCK_SIZE + 1, 31), (9 * MiB + 100, 10, 32)]:
            d = pattern(n, s)
            v.write(off, d)
            m.write(off, d)
        assert v.read(0, size) == bytes(m.buf)
        ch = v.chain()
        assert [c.path for c in ch] == [leaf, mid, base]
        assert ch[1].parent_uuid == ch[2].uuid
        assert v.parent_path == mid
        assert v.parent_uuid == ch[1].uuid
        assert v.parent().uuid == ch[1].uuid
    with VHD.open(leaf) as v:
        for _ in range(50):
            off = random.randrange(size)
            n = random.randrange(1, min(3 * MiB, size - off) + 1)
            assert v.read(off, n) == bytes(m.buf[off:off + n])
    for p in (base, mid, leaf):
        assert check(p, check_parents=True) == []


def test_differencing_header_fields(tmp_path):
    base = tmp_path / "base.vhd"
    create_dynamic(str(base), 4 * MiB).close()
    os.utime(base, (F.VHD_EPOCH + 1000, F.VHD_EPOCH + 1000))
    child = tmp_path / "child.vhd"
    create_differencing(str(child), str(base)).close()
    raw = child.read_bytes()
    assert struct.unpack(">I", raw[-512:][60:64])[0] == 4
    hdr = raw[512:1536]
    with VHD.open(str(base)) as b:
        assert hdr[40:56] == F.uuid_bytes(b.uuid)
    assert struct.unpack(">I", hdr[56:60])[0] == 1000
    assert hdr[64:64 + 16] == "base.vhd".encode("utf-16-be")
    codes = []
    for i in range(8):
        code, space, dlen, res, off = struct.unpack(">IIIIQ", hdr[576 + 24 * i:600 + 24 * i])
        if not code:
            continue
        codes.append(code)
        assert off % 512 == 0 and space * 512 >= dlen and res == 0
        data = raw[off:off + dlen]
        if code == F.PLAT_MACX:
            assert data == b"file://./base.vhd"
        else:
            assert data == ".\\base.vhd".encode("utf-16-le")
    assert codes == [F.PLAT_MACX, F.PLAT_W2KU, F.PLAT_W2RU]


def test_coalesce(tmp_path):
    size = 10 * MiB
    base, leaf = str(tmp_path / "base.vhd"), str(tmp_path / "leaf.vhd")
    m = Model(size)
    with create_dynamic(base, size) as v:
        d = pattern(4 * MiB, 1)
        v.write(MiB, d)
        m.write(MiB, d)
    with create_differencing(leaf, base) as v:
        for off, n, s in [(0, 10, 2), (2 * MiB + 512, 4096, 3), (6 * MiB, 2 * MiB, 4)]:
            d = pattern(n, s)
            v.write(off, d)
            m.write(off, d)
    before = open(leaf, "rb").read()
    assert coalesce(leaf) == base
    assert open(leaf, "rb").read() == before       # child untouched
    with VHD.open(base) as v:
        assert v.read(0, size) == bytes(m.buf)
    with VHD.open(leaf) as v:
        assert v.read(0, size) == bytes(m.buf)
    assert check(base) == [] and check(leaf, True) == []


def test_coalesce_into_fixed_and_larger_child(tmp_path):
    base, leaf = str(tmp_path / "base.vhd"), str(tmp_path / "leaf.vhd")
    with create_fixed(base, 4 * MiB) as v:
        v.write(0, b"B" * 1000)
    with create_differencing(leaf, base) as v:
        v.resize(6 * MiB)
        v.write(5 * MiB, b"L" * 10)
        v.write(10, b"l")
    coalesce(leaf)
    with VHD.open(base) as v:
        assert v.virtual_size == 6 * MiB
        assert v.read(0, 12) == b"B" * 10 + b"l" + b"B"
        assert v.read(5 * MiB, 10) == b"L" * 10
    assert check(base) == []


def test_reparent(tmp_path):
    size = 6 * MiB
    a, b, c = (str(tmp_path / n) for n in ("a.vhd", "b.vhd", "c.vhd"))
    with create_dynamic(a, size) as v:
        v.write(0, b"A" * 1024)
    with create_differencing(b, a) as v:
        v.write(512, b"B" * 512)
    with create_differencing(c, b) as v:
        v.write(1024, b"C" * 10)
    coalesce(b)
    sub = tmp_path / "sub"
    sub.mkdir()
    c2 = str(sub / "c.vhd")
    shutil.move(c, c2)
    with VHD.open(c2, writable=True) as v:
        assert not os.path.exists(v.parent_path)
        v.set_parent(a)
        assert v.parent_path == a
    os.unlink(b)
    with VHD.open(c2) as v:
        assert v.read(0, 1034) == b"A" * 512 + b"B" * 512 + b"C" * 10
        with VHD.open(a) as pa:
            assert v.parent_uuid == pa.uuid
        assert v.parent_name == "a.vhd"
        assert dict(v.locator_paths())["MacX"] == "../a.vhd"
    assert check(c2, check_parents=True) == []
    with VHD.open(a, writable=True) as v:
        with pytest.raises(VHDError):
            v.set_parent(c2)      # not differencing


def test_reparent_long_name_relocates_locator(tmp_path):
    a = str(tmp_path / "a.vhd")
    create_dynamic(a, 4 * MiB).close()
    c = str(tmp_path / "c.vhd")
    with create_differencing(c, a) as v:
        v.write(0, b"x" * 512)
    deep = tmp_path / ("d" * 200) / ("e" * 200) / ("f" * 200)
    deep.mkdir(parents=True)
    longp = str(deep / ("p" * 100 + ".vhd"))
    shutil.copy(a, longp)
    with VHD.open(c, writable=True) as v:
        v.set_parent(longp)
    with VHD.open(c) as v:
        assert v.parent_path == longp
        assert v.read(0, 513) == b"x" * 512 + b"\0"


def test_resize(tmp_path):
    p = str(tmp_path / "d.vhd")
    m = Model(8 * MiB)
    with create_dynamic(p, 8 * MiB) as v:
        for i in range(4):
            d = pattern(BLOCK_SIZE, i)
            v.write(i * BLOCK_SIZE, d)
            m.write(i * BLOCK_SIZE, d)
        assert v.max_table_entries == 4
        with pytest.raises(VHDError):
            v.resize(4 * MiB)
        v.resize(700 * MiB)          # BAT must grow: blocks in the way are moved
        assert v.virtual_size == 700 * MiB
        assert v.max_table_entries >= 350
        m.buf.extend(bytes(692 * MiB))
        v.write(699 * MiB, b"end")
        m.write(699 * MiB, b"end")
        assert v.read(0, 8 * MiB) == bytes(m.buf[:8 * MiB])
    with VHD.open(p) as v:
        assert v.virtual_size == 700 * MiB
        assert v.read(0, 8 * MiB) == bytes(m.buf[:8 * MiB])
        assert v.read(699 * MiB, 3) == b"end"
        assert v.read(600 * MiB, 100) == bytes(100)
    assert check(p) == []
    # fast resize with preallocated BAT
    q = str(tmp_path / "q.vhd")
    with create_dynamic(q, 4 * MiB, max_size=100 * MiB) as v:
        v.write(0, b"q" * 10)
        end = v.physical_size
        v.resize(50 * MiB)
        assert v.physical_size == end
    with VHD.open(q) as v:
        assert v.virtual_size == 50 * MiB and v.read(0, 10) == b"q" * 10
    assert check(q) == []
    # fixed
    f = str(tmp_path / "f.vhd")
    with create_fixed(f, 2 * MiB) as v:
        v.write(2 * MiB - 3, b"xyz")
        v.resize(3 * MiB)
        assert v.read(2 * MiB - 3, 600) == b"xyz" + bytes(597)
        with pytest.raises(VHDError):
            v.resize(MiB)
    assert check(f) == []


def test_resize_differencing_keeps_chain(tmp_path):
    a, c = str(tmp_path / "a.vhd"), str(tmp_path / "c.vhd")
    with create_dynamic(a, 4 * MiB) as v:
        v.write(4 * MiB - 4, b"tail")
    with create_differencing(c, a) as v:
        v.write(0, b"head")
        v.resize(300 * MiB)
        v.write(299 * MiB, b"new")
    with VHD.open(c) as v:
        assert v.read(0, 4) == b"head"
        assert v.read(4 * MiB - 4, 8) == b"tail" + bytes(4)
        assert v.read(299 * MiB, 3) == b"new"
    assert check(c, True) == []


def test_hidden_flag(tmp_path):
    p = str(tmp_path / "d.vhd")
    create_dynamic(p, 4 * MiB).close()
    with VHD.open(p) as v:
        assert v.hidden is False
        with pytest.raises(VHDError):
            v.hidden = True
    with VHD.open(p, writable=True) as v:
        v.hidden = True
    raw = open(p, "rb").read()
    assert raw[85] == 1 and raw[-512 + 85] == 1
    assert raw[:512] == raw[-512:]
    with VHD.open(p) as v:
        assert v.hidden is True
    assert check(p) == []
    f = str(tmp_path / "f.vhd")
    create_fixed(f, MiB).close()
    with VHD.open(f, writable=True) as v:
        v.hidden = 1
    assert open(f, "rb").read()[-512 + 85] == 1 and check(f) == []


def test_set_uuid(tmp_path):
    p = str(tmp_path / "d.vhd")
    create_dynamic(p, MiB).close()
    with VHD.open(p, writable=True) as v:
        v.set_uuid("AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE")
    with VHD.open(p) as v:
        assert v.uuid == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert check(p) == []


# ---------------------------------------------------------------- check()
def test_check_corrupt_checksum(tmp_path):
    p = str(tmp_path / "d.vhd")
    create_dynamic(p, 4 * MiB).close()
    size = os.path.getsize(p)
    with open(p, "r+b") as fh:
        fh.seek(size - 512 + 48)
        fh.write(struct.pack(">Q", 8 * MiB))    # change current size, keep checksum
    probs = check(p)
    assert any("checksum" in x for x in probs), probs


def test_check_header_checksum_and_cookie(tmp_path):
    p = str(tmp_path / "d.vhd")
    create_dynamic(p, 4 * MiB).close()
    with open(p, "r+b") as fh:
        fh.seek(512 + 28)
        fh.write(struct.pack(">I", 3))
    assert any("header" in x and "checksum" in x for x in check(p))
    with open(p, "r+b") as fh:
        fh.seek(0)
        fh.write(b"conectiy")
    assert any("backup" in x for x in check(p))


def test_check_footer_mismatch(tmp_path):
    p = str(tmp_path / "d.vhd")
    create_dynamic(p, 4 * MiB).close()
    raw = bytearray(open(p, "rb").read(512))
    f = F.Footer.unpack(raw)
    f.hidden = 1
    with open(p, "r+b") as fh:
        fh.write(f.pack())
    assert any("do not match" in x for x in check(p))


def test_check_truncated(tmp_path):
    p = str(tmp_path / "d.vhd")
    with create_dynamic(p, 8 * MiB) as v:
        v.write(0, b"x" * BLOCK_SIZE)
        v.write(4 * MiB, b"y" * BLOCK_SIZE)
    size = os.path.getsize(p)
    with open(p, "r+b") as fh:
        fh.truncate(size - BLOCK_SIZE)
    probs = check(p)
    assert probs, "truncated file must be reported"
    f = str(tmp_path / "f.vhd")
    create_fixed(f, 4 * MiB).close()
    with open(f, "r+b") as fh:
        fh.truncate(3 * MiB)
    assert check(f)


def test_check_bat_overlap(tmp_path):
    p = str(tmp_path / "d.vhd")
    with create_dynamic(p, 8 * MiB) as v:
        v.write(0, b"x" * 512)
        v.write(BLOCK_SIZE, b"y" * 512)
        table = v.header.table_offset
        first = v.bat[0]
    with open(p, "r+b") as fh:
        fh.seek(table + 4)
        fh.write(struct.pack(">I", first + 8))
    assert any("overlaps" in x or "clobbers" in x for x in check(p))


def test_check_missing_parent_and_uuid_mismatch(tmp_path):
    a, c = str(tmp_path / "a.vhd"), str(tmp_path / "c.vhd")
    create_dynamic(a, 4 * MiB).close()
    create_differencing(c, a).close()
    assert check(c, True) == []
    # parent replaced by another disk with a different uuid
    os.unlink(a)
    create_dynamic(a, 4 * MiB).close()
    probs = check(c)
    assert any("uuid mismatch" in x for x in probs), probs
    # parent gone
    os.unlink(a)
    probs = check(c)
    assert any("parent missing" in x for x in probs), probs
    with VHD.open(c) as v:
        with pytest.raises(VHDError):
            v.read(0, 10)


def test_check_parent_size_mismatch_and_parents_walk(tmp_path):
    a, b, c = (str(tmp_path / n) for n in ("a.vhd", "b.vhd", "c.vhd"))
    create_dynamic(a, 4 * MiB).close()
    create_differencing(b, a).close()
    create_differencing(c, b).close()
    # corrupt the grandparent: check(c) alone passes, with parents it fails
    with open(a, "r+b") as fh:
        fh.seek(512 + 28)
        fh.write(b"\0\0\0\1")
    assert check(c) == []
    probs = check(c, check_parents=True)
    assert probs and any(x.startswith(a) for x in probs), probs
    # parent larger than child
    x, y = str(tmp_path / "x.vhd"), str(tmp_path / "y.vhd")
    create_dynamic(x, 4 * MiB).close()
    create_differencing(y, x).close()
    with VHD.open(x, writable=True) as v:
        v.resize(8 * MiB)
    probs = check(y)
    assert any("size mismatch" in p for p in probs), probs


def test_not_a_vhd(tmp_path):
    p = tmp_path / "junk"
    p.write_bytes(b"\1" * 4096)
    with pytest.raises(VHDError):
        VHD.open(str(p))
    assert check(str(p))


def test_batmap_tracks_full_blocks(tmp_path):
    p = str(tmp_path / "d.vhd")
    with create_dynamic(p, 8 * MiB) as v:
        v.write(BLOCK_SIZE, bytes(BLOCK_SIZE))
        v.write(0, b"1" * 512)
        hdr_off = v._batmap_header_offset()
    raw = open(p, "rb").read()
    hdr = F.BatmapHeader.unpack(raw[hdr_off:hdr_off + 512])
    assert hdr.cookie == b"tdbatmap" and hdr.version == 0x00010002
    assert raw[hdr.offset] == 0x40          # block 1 full, block 0 not
    assert check(p) == []


# ------------------------------------------------------------ raw export/import
def test_export_import_round_trip(tmp_path):
    size = 40 * MiB + 1024
    base, leaf = str(tmp_path / "base.vhd"), str(tmp_path / "leaf.vhd")
    m = Model(size)
    with create_dynamic(base, size) as v:
        for off, n, s in [(0, 3 * MiB, 1), (20 * MiB, 100, 2), (size - 1024, 1024, 3)]:
            d = pattern(n, s)
            v.write(off, d)
            m.write(off, d)
        v.write(30 * MiB, bytes(BLOCK_SIZE))     # allocated but all zero
    with create_differencing(leaf, base) as v:
        d = pattern(5000, 4)
        v.write(MiB, d)
        m.write(MiB, d)
    raw = str(tmp_path / "disk.raw")
    export_raw(leaf, raw)
    assert os.path.getsize(raw) == size
    assert open(raw, "rb").read() == bytes(m.buf)
    st = os.stat(raw)
    assert st.st_blocks * 512 < 12 * MiB         # sparse
    # modify the raw image: one sector in block 10, zero out a chunk of block 0,
    # append data in an empty block
    with open(raw, "r+b") as fh:
        fh.seek(20 * MiB + 4096)
        fh.write(b"Z" * 512)
        fh.seek(4096)
        fh.write(bytes(8192))
        fh.seek(36 * MiB)
        fh.write(b"new data")
    m.write(20 * MiB + 4096, b"Z" * 512)
    m.write(4096, bytes(8192))
    m.write(36 * MiB, b"new data")
    leaf_before = VHD.open(leaf)
    blocks_before = leaf_before.allocated_blocks()
    leaf_before.close()
    base_before = open(base, "rb").read()
    written = import_raw(raw, leaf)
    assert written == 4096 + 8192 + 4096
    assert open(base, "rb").read() == base_before
    with VHD.open(leaf) as v:
        assert v.read(0, size) == bytes(m.buf)
        assert sorted(set(v.allocated_blocks()) - set(blocks_before)) == [10, 18]
        # the sectors written in block 10 are just the differing 4 KiB chunk
        runs = v._block_runs(10)
        assert runs == ((8, 16),)
    # importing again changes nothing
    assert import_raw(raw, leaf) == 0
    assert check(leaf, True) == []


def test_import_raw_too_big(tmp_path):
    p = str(tmp_path / "d.vhd")
    create_dynamic(p, MiB).close()
    raw = tmp_path / "r"
    raw.write_bytes(bytes(2 * MiB))
    with pytest.raises(VHDError):
        import_raw(str(raw), p)


def test_export_import_perf_1g(tmp_path):
    """1 GiB dynamic disk with half its blocks written: export+import in seconds."""
    p = str(tmp_path / "big.vhd")
    size = 1024 * MiB
    chunk = pattern(BLOCK_SIZE, 99)
    with create_dynamic(p, size) as v:
        for i in range(0, size // BLOCK_SIZE, 2):
            v.write(i * BLOCK_SIZE, chunk)
    raw = str(tmp_path / "big.raw")
    t0 = time.monotonic()
    export_raw(p, raw)
    t1 = time.monotonic()
    with open(raw, "r+b") as fh:
        fh.seek(BLOCK_SIZE + 512)
        fh.write(b"changed")
    t2 = time.monotonic()
    n = import_raw(raw, p)
    t3 = time.monotonic()
    print("\nexport %.2fs import %.2fs" % (t1 - t0, t3 - t2))
    assert n == 4096
    assert t1 - t0 < 15 and t3 - t2 < 15
    with VHD.open(p) as v:
        assert v.read(BLOCK_SIZE + 512, 7) == b"changed"


# ------------------------------------------------------------- qemu-img cross-check
@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
def test_qemu_img_reads_dynamic_same_data(tmp_path):
    p = str(tmp_path / "d.vhd")
    size = 16 * MiB
    m = Model(size)
    with create_dynamic(p, size) as v:
        for off, n, s in [(0, 5000, 1), (3 * MiB + 7, 2 * MiB, 2), (15 * MiB, 512, 3)]:
            d = pattern(n, s)
            v.write(off, d)
            m.write(off, d)
    out = str(tmp_path / "q.raw")
    subprocess.run(["qemu-img", "convert", "-f", "vpc", "-O", "raw", p, out], check=True)
    data = open(out, "rb").read()
    assert data == bytes(m.buf[:len(data)]) and len(data) >= size - 64 * 512


def test_random_chain_fuzz(tmp_path):
    """Random writes at three levels (plus a fixed base), checked against a model,
    then coalesced level by level."""
    rnd = random.Random(1234)
    size = 11 * MiB + 512
    paths = [str(tmp_path / n) for n in ("f.vhd", "d1.vhd", "d2.vhd", "d3.vhd")]
    m = Model(size)
    create_fixed(paths[0], size).close()
    for i, p in enumerate(paths):
        v = VHD.open(p, writable=True) if i == 0 else create_differencing(p, paths[i - 1])
        with v:
            for _ in range(25):
                off = rnd.randrange(size)
                n = rnd.choice([1, 7, 512, 513, 4096, 70000, BLOCK_SIZE, 3 * MiB])
                n = min(n, size - off)
                d = rnd.randbytes(n)
                v.write(off, d)
                m.write(off, d)
            assert v.read(0, size) == bytes(m.buf)
    with VHD.open(paths[-1]) as v:
        for _ in range(200):
            off = rnd.randrange(size)
            n = rnd.randrange(1, min(600000, size - off) + 1)
            assert v.read(off, n) == bytes(m.buf[off:off + n])
    for child in reversed(paths[1:]):
        coalesce(child)
    with VHD.open(paths[0]) as v:
        assert v.read(0, size) == bytes(m.buf)
    raw = str(tmp_path / "r.raw")
    export_raw(paths[-1], raw)
    assert open(raw, "rb").read() == bytes(m.buf)
    for p in paths:
        assert check(p, True) == []


def test_export_sparse_10g_is_fast(tmp_path):
    p = str(tmp_path / "big.vhd")
    size = 10 * 1024 * MiB
    with create_dynamic(p, size) as v:
        v.write(5 * 1024 * MiB, b"middle")
    raw = str(tmp_path / "big.raw")
    t0 = time.monotonic()
    export_raw(p, raw)
    assert time.monotonic() - t0 < 5
    assert os.path.getsize(raw) == size
    assert os.stat(raw).st_blocks * 512 <= 4 * BLOCK_SIZE
    with open(raw, "rb") as fh:
        fh.seek(5 * 1024 * MiB)
        assert fh.read(6) == b"middle"
    t0 = time.monotonic()
    assert import_raw(raw, p) == 0
    assert time.monotonic() - t0 < 5

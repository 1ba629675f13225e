"""The VHD class: open/create fixed, dynamic and differencing VHD files, read
through a chain, write into one file, re-parent, resize, hide.

Metadata (footer, header, BAT, batmap, sector bitmaps) is cached in the object
as of open time plus the object's own writes; reopen to see changes made to the
same file through another object.
"""

import errno
import os
import re
import struct
import sys
from array import array

from . import format as F
from .format import VHDError

_BITRUN = re.compile(r"1+")
_MAX_CHAIN = 64

ZERO_BLOCK = bytes(F.BLOCK_SIZE)


def _zeros(n):
    return ZERO_BLOCK[:n] if n <= len(ZERO_BLOCK) else bytes(n)


def _pread(fd, length, offset):
    """pread that loops on short reads; returns fewer bytes only at EOF."""
    out = os.pread(fd, length, offset)
    if len(out) == length or not out:
        return out
    parts = [out]
    got = len(out)
    while got < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _pwrite(fd, data, offset):
    mv = memoryview(data)
    done = 0
    while done < len(mv):
        n = os.pwrite(fd, mv[done:], offset + done)
        if n <= 0:
            raise VHDError("short write at offset %d" % (offset + done))
        done += n


def _bat_from_bytes(raw, count):
    bat = array("I")
    bat.frombytes(bytes(raw[:count * 4]).ljust(count * 4, b"\xff"))
    if sys.byteorder == "little":
        bat.byteswap()
    return bat


def _bat_to_bytes(bat):
    out = array("I", bat)
    if sys.byteorder == "little":
        out.byteswap()
    return out.tobytes()


def bitmap_runs(bitmap, nbits):
    """Runs (start, end) of set bits, MSB first, among the first nbits bits."""
    nbytes = (nbits + 7) // 8
    bm = bytes(bitmap[:nbytes])
    if bm.count(0) == nbytes:
        return ()
    if nbits % 8 == 0 and bm.count(0xFF) == nbytes:
        return ((0, nbits),)
    s = format(int.from_bytes(bm, "big"), "0%db" % (nbytes * 8))[:nbits]
    return tuple((m.start(), m.end()) for m in _BITRUN.finditer(s))


def _intersect(needed, present):
    """needed, present: sorted disjoint runs. Returns (hits, remaining)."""
    hits, rest = [], []
    j = 0
    for a, b in needed:
        cur = a
        while j < len(present) and present[j][1] <= cur:
            j += 1
        k = j
        while k < len(present) and present[k][0] < b:
            ps, pe = present[k]
            s, e = max(ps, cur), min(pe, b)
            if s > cur:
                rest.append((cur, s))
            if e > s:
                hits.append((s, e))
                cur = e
            if pe > b:
                break
            k += 1
        if cur < b:
            rest.append((cur, b))
    return hits, rest


class VHD:
    """An open VHD file."""

    def __init__(self, path, fd, writable):
        self.path = os.path.abspath(path)
        self._fd = fd
        self.writable = writable
        self._parent_obj = None
        self._closed = False
        self.header = None
        self.bat = None
        self._batmap = None
        self._batmap_hdr = None
        self._runs = {}
        self._load()

    # ------------------------------------------------------------------ open
    @classmethod
    def open(cls, path, writable=False):
        try:
            fd = os.open(path, os.O_RDWR if writable else os.O_RDONLY)
        except OSError as e:
            raise VHDError("cannot open %s: %s" % (path, e.strerror)) from e
        try:
            return cls(path, fd, writable)
        except BaseException:
            os.close(fd)
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<VHD %s %s %s>" % (self.path, self.disk_type if not self._closed else "?",
                                   "rw" if self.writable else "ro")

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._parent_obj is not None:
            self._parent_obj.close()
            self._parent_obj = None
        try:
            if self.writable:
                os.fsync(self._fd)
        except OSError:
            pass
        os.close(self._fd)

    def _load(self):
        fd = self._fd
        size = os.fstat(fd).st_size
        if size < F.FOOTER_SIZE - 1:
            raise VHDError("%s: file too small to be a VHD (%d bytes)" % (self.path, size))
        footer = None
        candidates = [size - F.FOOTER_SIZE]
        if size % F.SECTOR == F.SECTOR - 1:
            candidates.append(size - (F.FOOTER_SIZE - 1))
        candidates.append(0)
        for off in candidates:
            if off < 0:
                continue
            raw = _pread(fd, F.FOOTER_SIZE, off)
            f = F.Footer.unpack(raw)
            if f.cookie == F.FOOTER_COOKIE and f.checksum_ok(raw.ljust(512, b"\0")):
                footer = f
                break
        if footer is None:
            raise VHDError("%s: no valid VHD footer (bad cookie or checksum)" % self.path)
        if footer.disk_type not in F.TYPE_NAMES:
            raise VHDError("%s: unsupported disk type %d" % (self.path, footer.disk_type))
        self.footer = footer
        self._file_size = size
        if footer.disk_type == F.TYPE_FIXED:
            self._end = size - F.FOOTER_SIZE
            return
        hraw = _pread(fd, F.HEADER_SIZE, footer.data_offset)
        header = F.Header.unpack(hraw)
        if header.cookie != F.HEADER_COOKIE:
            raise VHDError("%s: bad dynamic header cookie" % self.path)
        if header.block_size < F.SECTOR or header.block_size & (header.block_size - 1):
            raise VHDError("%s: invalid block size %d" % (self.path, header.block_size))
        self.header = header
        self.block_size = header.block_size
        self.spb = header.block_size // F.SECTOR
        self.bm_bytes = F.bytes_padded(self.spb // 8)
        self.bm_secs = self.bm_bytes // F.SECTOR
        n = header.max_table_entries
        raw = _pread(fd, n * 4, header.table_offset)
        self.bat = _bat_from_bytes(raw, n)
        need = self.nblocks
        if len(self.bat) < need:
            self.bat.extend([F.BAT_UNUSED] * (need - len(self.bat)))
        self._load_batmap()
        self._end = self._compute_end()

    def _has_batmap_format(self):
        f = self.footer
        return f.creator_app[:3] == b"tap" and f.creator_version >= 0x00010001

    def _batmap_header_offset(self, max_entries=None):
        if max_entries is None:
            max_entries = self.header.max_table_entries
        return self.header.table_offset + F.bytes_padded(max_entries * 4)

    def _load_batmap(self):
        self._batmap = None
        self._batmap_hdr = None
        if not self._has_batmap_format():
            return
        raw = _pread(self._fd, F.SECTOR, self._batmap_header_offset())
        hdr = F.BatmapHeader.unpack(raw)
        if hdr.cookie != F.BATMAP_COOKIE or hdr.size == 0:
            return
        self._batmap_hdr = hdr
        self._batmap = bytearray(_pread(self._fd, hdr.size * F.SECTOR, hdr.offset)
                                 .ljust(hdr.size * F.SECTOR, b"\0"))

    def _metadata_end(self):
        h = self.header
        end = max(self.footer.data_offset + F.HEADER_SIZE,
                  h.table_offset + F.bytes_padded(h.max_table_entries * 4))
        if self._batmap_hdr is not None:
            end = max(end, self._batmap_header_offset() + F.SECTOR,
                      self._batmap_hdr.offset + self._batmap_hdr.size * F.SECTOR)
        for loc in h.locators:
            if loc.code != F.PLAT_NONE:
                end = max(end, loc.data_offset + loc.space_bytes)
        return F.round_up(end, F.SECTOR)

    def _compute_end(self):
        end = self._metadata_end()
        blk = (self.bm_secs + self.spb) * F.SECTOR
        for off in self.bat:
            if off != F.BAT_UNUSED:
                end = max(end, off * F.SECTOR + blk)
        return end

    # ------------------------------------------------------------ properties
    @property
    def uuid(self):
        return F.canonical_uuid(self.footer.uuid)

    @property
    def disk_type(self):
        return F.TYPE_NAMES[self.footer.disk_type]

    @property
    def is_dynamic(self):
        return self.footer.disk_type in (F.TYPE_DYNAMIC, F.TYPE_DIFF)

    @property
    def virtual_size(self):
        return self.footer.curr_size

    @property
    def physical_size(self):
        return os.fstat(self._fd).st_size

    @property
    def end_of_data(self):
        """blktap's vhd_end_of_data: where the primary footer belongs."""
        return self._end

    @property
    def nblocks(self):
        if not self.is_dynamic:
            return -(-self.footer.curr_size // F.BLOCK_SIZE)
        return -(-self.footer.curr_size // self.block_size)

    @property
    def max_table_entries(self):
        return self.header.max_table_entries if self.header else 0

    @property
    def hidden(self):
        return bool(self.footer.hidden)

    @hidden.setter
    def hidden(self, value):
        self._need_writable()
        self.footer.hidden = 1 if value else 0
        self._write_footers()

    @property
    def parent_uuid(self):
        if self.footer.disk_type != F.TYPE_DIFF:
            return None
        return F.canonical_uuid(self.header.parent_uuid)

    @property
    def parent_name(self):
        if self.footer.disk_type != F.TYPE_DIFF:
            return None
        return self.header.parent_unicode_name

    @property
    def parent_timestamp(self):
        return self.header.parent_timestamp if self.footer.disk_type == F.TYPE_DIFF else None

    def locator_paths(self):
        """[(platform name, decoded path)] for every locator we can decode."""
        out = []
        if self.footer.disk_type != F.TYPE_DIFF:
            return out
        for loc in self.header.locators:
            if loc.code in (F.PLAT_MACX, F.PLAT_W2KU, F.PLAT_W2RU) and loc.data_len:
                data = _pread(self._fd, loc.data_len, loc.data_offset)
                name = F.decode_locator(loc.code, data)
                if name:
                    out.append((F.platform_name(loc.code), name))
        return out

    @property
    def parent_path(self):
        """Absolute parent path from the locators (first one that exists), or None."""
        if self.footer.disk_type != F.TYPE_DIFF:
            return None
        cdir = os.path.dirname(os.path.realpath(self.path))
        first = None
        for _, name in self.locator_paths():
            if name.startswith("/"):
                cand = name
            else:
                cand = os.path.join(cdir, name)
            if os.path.exists(cand):
                return os.path.realpath(cand)
            if first is None:
                first = os.path.normpath(cand)
        return first

    def parent(self):
        p = self.parent_path
        if p is None:
            return None
        return VHD.open(p)

    def chain(self):
        out = [self]
        cur = self
        seen = {os.path.realpath(self.path)}
        while cur.footer.disk_type == F.TYPE_DIFF:
            p = cur.parent_path
            if p is None or not os.path.exists(p):
                raise VHDError("%s: parent %s not found" % (cur.path, p or cur.parent_name))
            if p in seen or len(out) > _MAX_CHAIN:
                raise VHDError("%s: parent chain loops or is too long" % self.path)
            seen.add(p)
            cur = VHD.open(p)
            out.append(cur)
        return out

    def _levels(self):
        """[self, parent, ...] using cached read-only parent objects."""
        out = [self]
        cur = self
        while cur.footer.disk_type == F.TYPE_DIFF:
            if cur._parent_obj is None:
                p = cur.parent_path
                if p is None or not os.path.exists(p):
                    raise VHDError("%s: parent %s not found" % (cur.path, p or cur.parent_name))
                cur._parent_obj = VHD.open(p)
            cur = cur._parent_obj
            out.append(cur)
            if len(out) > _MAX_CHAIN:
                raise VHDError("%s: parent chain loops or is too long" % self.path)
        return out

    # --------------------------------------------------------------- bitmaps
    def allocated_blocks(self):
        if not self.is_dynamic:
            return list(range(self.nblocks))
        n = self.nblocks
        return [i for i in range(n) if self.bat[i] != F.BAT_UNUSED]

    def block_bitmap(self, i):
        if not self.is_dynamic:
            nb = F.bytes_padded(F.BLOCK_SIZE // F.SECTOR // 8)
            return b"\xff" * nb
        if i < 0 or i >= self.nblocks:
            raise VHDError("block %d out of range" % i)
        off = self.bat[i]
        if off == F.BAT_UNUSED:
            return bytes(self.bm_bytes)
        return _pread(self._fd, self.bm_bytes, off * F.SECTOR).ljust(self.bm_bytes, b"\0")

    def _block_runs(self, i):
        """Present sector runs (relative to block start) of block i in this file."""
        r = self._runs.get(i)
        if r is None:
            if self.bat[i] == F.BAT_UNUSED:
                r = ()
            else:
                r = bitmap_runs(self.block_bitmap(i), self.spb)
            self._runs[i] = r
        return r

    def _present(self, a, b):
        """Absolute sector runs present in this file within [a, b), plus the file
        offset (bytes) of each run's first sector: [(s, e, file_off)]."""
        out = []
        size_secs = -(-self.footer.curr_size // F.SECTOR)
        b = min(b, size_secs)
        if a >= b:
            return out
        if not self.is_dynamic:
            return [(a, b, a * F.SECTOR)]
        spb = self.spb
        blk = a // spb
        while blk * spb < b:
            base = blk * spb
            if self.bat[blk] != F.BAT_UNUSED:
                data0 = (self.bat[blk] + self.bm_secs) * F.SECTOR
                for rs, re_ in self._block_runs(blk):
                    s, e = max(base + rs, a), min(base + re_, b)
                    if s < e:
                        out.append((s, e, data0 + (s - base) * F.SECTOR))
            blk += 1
        return out

    def _has_data(self, a, b):
        if not self.is_dynamic:
            # a sparse fixed disk: holes read as zero, skip them cheaply
            try:
                d = os.lseek(self._fd, a * F.SECTOR, os.SEEK_DATA)
            except OSError as e:
                return e.errno != errno.ENXIO
            return d < min(b * F.SECTOR, self.footer.curr_size)
        size_secs = -(-self.footer.curr_size // F.SECTOR)
        b = min(b, size_secs)
        spb = self.spb
        blk = a // spb
        while blk * spb < b:
            if self.bat[blk] != F.BAT_UNUSED and self._block_runs(blk):
                base = blk * spb
                for rs, re_ in self._block_runs(blk):
                    if base + rs < b and base + re_ > a:
                        return True
            blk += 1
        return False

    def _chain_has_data(self, a, b):
        for lvl in self._levels():
            if lvl._has_data(a, b):
                return True
            if lvl.footer.disk_type != F.TYPE_DIFF:
                break
        return False

    # ------------------------------------------------------------------ read
    def _read_sectors(self, a, b):
        buf = bytearray((b - a) * F.SECTOR)
        mv = memoryview(buf)
        needed = [(a, b)]
        for lvl in self._levels():
            size_secs = -(-lvl.footer.curr_size // F.SECTOR)
            pres = lvl._present(a, b)
            if pres:
                hits, rest = _intersect(needed, [(s, e) for s, e, _ in pres])
                if hits:
                    # map each hit to its file offset
                    j = 0
                    for s, e in hits:
                        while pres[j][1] <= s:
                            j += 1
                        ps, pe, off = pres[j]
                        data = _pread(lvl._fd, (e - s) * F.SECTOR, off + (s - ps) * F.SECTOR)
                        pos = (s - a) * F.SECTOR
                        mv[pos:pos + len(data)] = data
                needed = rest
            # sectors beyond this level's size read as zero (blktap behaviour)
            needed = [(s, min(e, size_secs)) for s, e in needed if s < size_secs]
            if not needed or lvl.footer.disk_type != F.TYPE_DIFF:
                break
        return buf

    def read(self, offset, length):
        if offset < 0 or length < 0 or offset + length > self.footer.curr_size:
            raise VHDError("read of %d bytes at %d beyond virtual size %d"
                           % (length, offset, self.footer.curr_size))
        if length == 0:
            return b""
        a = offset // F.SECTOR
        b = -(-(offset + length) // F.SECTOR)
        buf = self._read_sectors(a, b)
        skip = offset - a * F.SECTOR
        if skip == 0 and len(buf) == length:
            return bytes(buf)
        return bytes(memoryview(buf)[skip:skip + length])

    def read_own(self, offset, length):
        """Read from this file only; sectors not present here read as zero."""
        a = offset // F.SECTOR
        b = -(-(offset + length) // F.SECTOR)
        buf = bytearray((b - a) * F.SECTOR)
        for s, e, off in self._present(a, b):
            data = _pread(self._fd, (e - s) * F.SECTOR, off)
            pos = (s - a) * F.SECTOR
            buf[pos:pos + len(data)] = data
        skip = offset - a * F.SECTOR
        return bytes(memoryview(buf)[skip:skip + length])

    def data_extents(self):
        """(offset, length) byte runs of the sectors present in this file."""
        if not self.is_dynamic:
            yield from self._fixed_extents()
            return
        cur = None
        for blk in range(self.nblocks):
            if self.bat[blk] == F.BAT_UNUSED:
                continue
            base = blk * self.spb
            for rs, re_ in self._block_runs(blk):
                s = (base + rs) * F.SECTOR
                e = min((base + re_) * F.SECTOR, self.footer.curr_size)
                if s >= e:
                    continue
                if cur and cur[1] == s:
                    cur[1] = e
                else:
                    if cur:
                        yield (cur[0], cur[1] - cur[0])
                    cur = [s, e]
        if cur:
            yield (cur[0], cur[1] - cur[0])

    def _fixed_extents(self):
        size = self.footer.curr_size
        pos = 0
        while pos < size:
            try:
                d = os.lseek(self._fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    return
                yield (pos, size - pos)
                return
            if d >= size:
                return
            h = os.lseek(self._fd, d, os.SEEK_HOLE)
            h = min(h, size)
            s = d // F.SECTOR * F.SECTOR
            e = F.round_up(h, F.SECTOR)
            yield (s, min(e, size) - s)
            pos = e

    def _own_pieces(self):
        """(virtual byte offset, length, file byte offset) per present run, per block."""
        if not self.is_dynamic:
            for off, length in self._fixed_extents():
                pos = 0
                while pos < length:
                    n = min(F.BLOCK_SIZE, length - pos)
                    yield (off + pos, n, off + pos)
                    pos += n
            return
        for blk in range(self.nblocks):
            if self.bat[blk] == F.BAT_UNUSED:
                continue
            base = blk * self.spb
            data0 = (self.bat[blk] + self.bm_secs) * F.SECTOR
            for rs, re_ in self._block_runs(blk):
                s = (base + rs) * F.SECTOR
                e = min((base + re_) * F.SECTOR, self.footer.curr_size)
                if s < e:
                    yield (s, e - s, data0 + rs * F.SECTOR)

    # ----------------------------------------------------------------- write
    def _need_writable(self):
        if not self.writable:
            raise VHDError("%s is open read-only" % self.path)

    def write(self, offset, data):
        self._need_writable()
        mv = memoryview(data).cast("B")
        length = len(mv)
        if offset < 0 or offset + length > self.footer.curr_size:
            raise VHDError("write of %d bytes at %d beyond virtual size %d"
                           % (length, offset, self.footer.curr_size))
        if length == 0:
            return
        a = offset // F.SECTOR * F.SECTOR
        e = F.round_up(offset + length, F.SECTOR)
        if a != offset or e != offset + length:
            size = self.footer.curr_size
            buf = bytearray(e - a)
            if a != offset:
                head = self.read(a, min(F.SECTOR, size - a))
                buf[0:len(head)] = head
            if e != offset + length:
                t0 = e - F.SECTOR
                tail = self.read(t0, min(F.SECTOR, size - t0))
                buf[t0 - a:t0 - a + len(tail)] = tail
            buf[offset - a:offset - a + length] = mv
            mv = memoryview(buf)
        self._write_sectors(a // F.SECTOR, mv)

    def _write_sectors(self, sec, mv):
        if not self.is_dynamic:
            _pwrite(self._fd, mv, sec * F.SECTOR)
            return
        spb = self.spb
        nsec = len(mv) // F.SECTOR
        pos = 0
        new_blocks = []
        dirty_bat = set()
        batmap_dirty = False
        blk_bytes = (self.bm_secs + spb) * F.SECTOR
        while pos < nsec:
            blk = (sec + pos) // spb
            s0 = (sec + pos) % spb
            n = min(spb - s0, nsec - pos)
            if blk >= self.header.max_table_entries:
                raise VHDError("%s: block %d beyond BAT (%d entries)"
                               % (self.path, blk, self.header.max_table_entries))
            if self.bat[blk] == F.BAT_UNUSED:
                self.bat[blk] = self._end // F.SECTOR
                self._end += blk_bytes
                new_blocks.append(blk)
                dirty_bat.add(blk)
                bitmap = bytes(self.bm_bytes)
                self._runs[blk] = ()
            else:
                bitmap = None
            base_off = self.bat[blk] * F.SECTOR
            _pwrite(self._fd, mv[pos * F.SECTOR:(pos + n) * F.SECTOR],
                    base_off + (self.bm_secs + s0) * F.SECTOR)
            runs = self._block_runs(blk) if bitmap is None else ()
            if runs != ((0, spb),):
                if bitmap is None:
                    bitmap = self.block_bitmap(blk)
                total = self.bm_bytes * 8
                val = int.from_bytes(bitmap, "big")
                mask = ((1 << n) - 1) << (total - s0 - n)
                nval = val | mask
                if nval != val or blk in dirty_bat:
                    nb = nval.to_bytes(self.bm_bytes, "big")
                    _pwrite(self._fd, nb, base_off)
                    self._runs[blk] = bitmap_runs(nb, spb)
                    if self._batmap is not None and self._runs[blk] == ((0, spb),):
                        self._batmap[blk >> 3] |= 0x80 >> (blk & 7)
                        batmap_dirty = True
            pos += n
        if new_blocks:
            self._write_footer_at_end()
            for blk in sorted(dirty_bat):
                _pwrite(self._fd, struct.pack(">I", self.bat[blk]),
                        self.header.table_offset + 4 * blk)
        if batmap_dirty:
            self._write_batmap()

    # -------------------------------------------------------------- metadata
    def _write_footer_at_end(self):
        raw = self.footer.pack()
        if self.is_dynamic:
            off = self._end
        else:
            off = self.footer.curr_size
        _pwrite(self._fd, raw, off)
        os.ftruncate(self._fd, off + F.FOOTER_SIZE)
        self._file_size = off + F.FOOTER_SIZE

    def _write_footers(self):
        self._write_footer_at_end()
        if self.is_dynamic:
            _pwrite(self._fd, self.footer.pack(), 0)

    def _write_header(self):
        _pwrite(self._fd, self.header.pack(), self.footer.data_offset)

    def _write_batmap(self):
        if self._batmap is None:
            return
        hdr = self._batmap_hdr
        hdr.checksum = F.batmap_checksum(self._batmap, self.footer.curr_size, hdr.version)
        _pwrite(self._fd, bytes(self._batmap), hdr.offset)
        _pwrite(self._fd, hdr.pack(), self._batmap_header_offset())

    def _write_bat(self):
        n = self.header.max_table_entries
        raw = _bat_to_bytes(self.bat[:n])
        _pwrite(self._fd, raw.ljust(F.bytes_padded(n * 4), b"\xff"), self.header.table_offset)

    def set_uuid(self, u):
        self._need_writable()
        self.footer.uuid = F.uuid_bytes(u)
        self._write_footers()

    def set_parent(self, parent_path):
        """Re-parent (vhd-util modify -p): parent uuid, timestamp, name, locators."""
        self._need_writable()
        if self.footer.disk_type != F.TYPE_DIFF:
            raise VHDError("%s is not a differencing disk" % self.path)
        ppath = os.path.realpath(parent_path)
        if not os.path.isfile(ppath):
            raise VHDError("parent %s not found" % parent_path)
        with VHD.open(ppath) as parent:
            puuid = parent.footer.uuid
        st = os.stat(ppath)
        h = self.header
        h.parent_uuid = puuid
        h.parent_timestamp = F.vhd_time(st.st_mtime)
        h.parent_name = F.encode_parent_name(ppath)
        rel = F.relative_locator_path(self.path, ppath)
        used = [loc for loc in h.locators if loc.code in F.WRITTEN_PLATFORMS]
        if not used:
            for i, code in enumerate(F.WRITTEN_PLATFORMS):
                slot = next(j for j, loc in enumerate(h.locators) if loc.code == F.PLAT_NONE)
                h.locators[slot] = F.Locator(code=code)
            used = [loc for loc in h.locators if loc.code in F.WRITTEN_PLATFORMS]
        grew = False
        for loc in used:
            payload = F.encode_locator(loc.code, rel)
            space = loc.space_bytes if loc.data_offset else 0
            if len(payload) > space:
                # no room in place: append the locator data at the end of the file
                space = max(F.LOCATOR_SPACE, F.round_up(len(payload), F.SECTOR))
                loc.data_offset = self._end
                loc.data_space = space // F.SECTOR
                self._end += space
                grew = True
            loc.data_len = len(payload)
            loc.reserved = 0
            _pwrite(self._fd, payload.ljust(space, b"\0"), loc.data_offset)
        self._write_header()
        if grew:
            self._write_footers()
        if self._parent_obj is not None:
            self._parent_obj.close()
            self._parent_obj = None

    def resize(self, new_size):
        """Grow the virtual size (shrinking raises VHDError)."""
        self._need_writable()
        new_size = F.round_up(new_size, F.SECTOR)
        old = self.footer.curr_size
        if new_size < old:
            raise VHDError("cannot shrink %s from %d to %d" % (self.path, old, new_size))
        if new_size == old:
            return
        if not self.is_dynamic:
            # data grows over the old footer: zero it, then write the footer at the new end
            _pwrite(self._fd, bytes(F.FOOTER_SIZE), old)
            self.footer.orig_size = new_size
            self.footer.curr_size = new_size
            self.footer.geometry = F.chs(new_size)
            self._write_footer_at_end()
            self._end = new_size
            return
        old_blocks = self.nblocks
        new_blocks = -(-new_size // self.block_size)
        if new_blocks > self.header.max_table_entries:
            self._grow_bat(new_blocks)
        changed = False
        for i in range(old_blocks, new_blocks):
            if self.bat[i] != F.BAT_UNUSED:
                self.bat[i] = F.BAT_UNUSED
                changed = True
            self._runs.pop(i, None)
        if changed:
            self._write_bat()
        # blktap only updates the current size; we also update the (informational)
        # original size because libvhdi-based tools report it as the media size.
        self.footer.orig_size = new_size
        self.footer.curr_size = new_size
        self.footer.geometry = F.chs(new_size)
        if self._batmap is not None:
            need = F.secs_round_up_no_zero(new_size >> (F.BLOCK_SHIFT + 3))
            if need > self._batmap_hdr.size:    # cannot happen after _grow_bat, defensive
                raise VHDError("%s: batmap too small for new size" % self.path)
            self._write_batmap()
        self._end = self._compute_end()
        self._write_footers()

    def _grow_bat(self, entries):
        """Enlarge the BAT in place (keeping the blktap layout: BAT, batmap, locators
        directly after the header) by moving the data blocks in the way to the end."""
        h = self.header
        old_max = h.max_table_entries
        table_off = h.table_offset
        layout = table_off + F.bytes_padded(entries * 4)
        bm_hdr_off = bm_off = bm_secs = None
        if self._batmap is not None:
            bm_hdr_off = layout
            bm_off = layout + F.SECTOR
            bm_secs = F.secs_round_up_no_zero((entries + 7) >> 3)
            layout = bm_off + bm_secs * F.SECTOR
        loc_moves = []
        for loc in h.locators:
            if loc.code == F.PLAT_NONE or not loc.data_offset:
                continue
            space = loc.space_bytes or F.round_up(loc.data_len, F.SECTOR)
            payload = _pread(self._fd, space, loc.data_offset).ljust(space, b"\0")
            loc_moves.append((loc, layout, payload, space))
            layout += space
        meta_end = layout
        blk_bytes = (self.bm_secs + self.spb) * F.SECTOR
        dest = max(self._end, meta_end)
        victims = sorted((off, i) for i, off in enumerate(self.bat)
                         if off != F.BAT_UNUSED and off * F.SECTOR < meta_end
                         and off * F.SECTOR + blk_bytes > table_off)
        for off, i in victims:
            pos = 0
            while pos < blk_bytes:
                n = min(blk_bytes - pos, 4 * 1024 * 1024)
                chunk = _pread(self._fd, n, off * F.SECTOR + pos).ljust(n, b"\0")
                _pwrite(self._fd, chunk, dest + pos)
                pos += n
            self.bat[i] = dest // F.SECTOR
            dest += blk_bytes
        # footer first at the new end, so the file is long enough
        self._end = dest
        self._write_footer_at_end()
        # new BAT
        if len(self.bat) < entries:
            self.bat.extend([F.BAT_UNUSED] * (entries - len(self.bat)))
        h.max_table_entries = entries
        self._write_bat()
        # batmap
        if self._batmap is not None:
            newmap = bytearray(bm_secs * F.SECTOR)
            oldbytes = (old_max + 7) >> 3
            newmap[:oldbytes] = self._batmap[:oldbytes]
            self._batmap = newmap
            self._batmap_hdr.offset = bm_off
            self._batmap_hdr.size = bm_secs
            _pwrite(self._fd, bytes(newmap), bm_off)
            _pwrite(self._fd, self._batmap_hdr.pack(), bm_hdr_off)
        for loc, off, payload, space in loc_moves:
            _pwrite(self._fd, payload, off)
            loc.data_offset = off
        self._write_header()
        self._end = self._compute_end()


# ---------------------------------------------------------------- creation
def _new_footer(disk_type, size, uuid):
    f = F.Footer()
    f.timestamp = F.vhd_time()
    f.orig_size = size
    f.curr_size = size
    f.geometry = F.chs(size)
    f.disk_type = disk_type
    f.uuid = F.uuid_bytes(uuid)
    f.data_offset = F.NO_OFFSET if disk_type == F.TYPE_FIXED else F.SECTOR
    return f


def _create_file(path):
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        raise VHDError("cannot create %s: %s" % (path, e.strerror)) from e


def create_fixed(path, size, uuid=None):
    size = F.round_up(int(size), F.SECTOR)
    footer = _new_footer(F.TYPE_FIXED, size, uuid)
    fd = _create_file(path)
    try:
        os.ftruncate(fd, size)
        _pwrite(fd, footer.pack(), size)
    finally:
        os.close(fd)
    return VHD.open(path, writable=True)


def _create_sparse(path, disk_type, size, uuid, max_size, parent_path=None):
    size = F.round_up(int(size), F.SECTOR)
    max_size = max(size, F.round_up(int(max_size or 0), F.SECTOR))
    entries = -(-max_size // F.BLOCK_SIZE)
    footer = _new_footer(disk_type, size, uuid)
    h = F.Header()
    h.table_offset = 3 * F.SECTOR
    h.max_table_entries = entries
    h.block_size = F.BLOCK_SIZE
    bat_bytes = F.bytes_padded(entries * 4)
    bm_hdr_off = h.table_offset + bat_bytes
    bm = F.BatmapHeader()
    bm.offset = bm_hdr_off + F.SECTOR
    bm.size = F.secs_round_up_no_zero((entries + 7) >> 3)
    mapbytes = bytes(bm.size * F.SECTOR)
    bm.checksum = F.batmap_checksum(mapbytes, size)
    end = bm.offset + bm.size * F.SECTOR
    payloads = []
    if disk_type == F.TYPE_DIFF:
        ppath = os.path.realpath(parent_path)
        st = os.stat(ppath)
        with VHD.open(ppath) as parent:
            h.parent_uuid = parent.footer.uuid
        h.parent_timestamp = F.vhd_time(st.st_mtime)
        h.parent_name = F.encode_parent_name(ppath)
        rel = F.relative_locator_path(path, ppath)
        for i, code in enumerate(F.WRITTEN_PLATFORMS):
            payload = F.encode_locator(code, rel)
            space = max(F.LOCATOR_SPACE, F.round_up(len(payload), F.SECTOR))
            h.locators[i] = F.Locator(code=code, data_space=space // F.SECTOR,
                                      data_len=len(payload), data_offset=end)
            payloads.append((end, payload.ljust(space, b"\0")))
            end += space
    fd = _create_file(path)
    try:
        fraw = footer.pack()
        _pwrite(fd, fraw, 0)
        _pwrite(fd, h.pack(), F.SECTOR)
        _pwrite(fd, b"\xff" * bat_bytes, h.table_offset)
        _pwrite(fd, bm.pack(), bm_hdr_off)
        _pwrite(fd, mapbytes, bm.offset)
        for off, data in payloads:
            _pwrite(fd, data, off)
        _pwrite(fd, fraw, end)
        os.ftruncate(fd, end + F.FOOTER_SIZE)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    os.close(fd)
    return VHD.open(path, writable=True)


def create_dynamic(path, size, uuid=None, max_size=None):
    return _create_sparse(path, F.TYPE_DYNAMIC, size, uuid, max_size)


def create_differencing(path, parent_path, uuid=None, max_size=None):
    if not os.path.isfile(parent_path):
        raise VHDError("parent %s not found" % parent_path)
    with VHD.open(parent_path) as parent:
        size = parent.virtual_size
    return _create_sparse(path, F.TYPE_DIFF, size, uuid, max_size, parent_path)

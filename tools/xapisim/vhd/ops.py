"""Whole-file operations: coalesce, check, export to / import from raw files."""

import errno
import os
import stat

from . import format as F
from .format import VHDError
from .disk import VHD, _pread, bitmap_runs, _bat_from_bytes, ZERO_BLOCK, _zeros

COMPARE_CHUNK = 4096


# ---------------------------------------------------------------- coalesce
def coalesce(child_path):
    """Write every sector present in child_path into its parent (vhd-util coalesce).

    The child is left untouched.  A parent smaller than the child is grown first.
    Returns the parent's path.
    """
    with VHD.open(child_path) as child:
        if child.footer.disk_type != F.TYPE_DIFF:
            raise VHDError("%s is not a differencing disk" % child_path)
        ppath = child.parent_path
        if ppath is None or not os.path.exists(ppath):
            raise VHDError("%s: parent %s not found" % (child_path, ppath or child.parent_name))
        with VHD.open(ppath, writable=True) as parent:
            if parent.footer.uuid != child.header.parent_uuid:
                raise VHDError("%s: parent uuid mismatch (%s has %s, header says %s)"
                               % (child_path, ppath, parent.uuid, child.parent_uuid))
            if child.virtual_size > parent.virtual_size:
                parent.resize(child.virtual_size)
            fd = child._fd
            for voff, length, foff in child._own_pieces():
                parent.write(voff, _pread(fd, length, foff).ljust(length, b"\0"))
    return ppath


# ------------------------------------------------------------ export/import
def _seek_data(fd, pos):
    """Offset of the next data at or after pos, or None when only a hole remains."""
    try:
        return os.lseek(fd, pos, os.SEEK_DATA)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return None
        return pos     # filesystem without SEEK_DATA: assume data


def export_raw(vhd_path, raw_path):
    """Write the virtual disk (read through the chain) to a sparse raw file."""
    with VHD.open(vhd_path) as v:
        v._levels()
        size = v.virtual_size
        fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            bs = F.BLOCK_SIZE
            for blk in range(-(-size // bs)):
                start = blk * bs
                length = min(bs, size - start)
                a, b = start // F.SECTOR, -(-(start + length) // F.SECTOR)
                if not v._chain_has_data(a, b):
                    continue
                data = v._read_sectors(a, b)
                if len(data) != length:
                    data = memoryview(data)[:length]
                if data == _zeros(length):
                    continue
                os.pwrite(fd, data, start)
            os.ftruncate(fd, size)
        finally:
            os.close(fd)


def write_changed(v, offset, data, chain_has=None):
    """Write ``data`` at virtual ``offset`` into v (open writable), only the 4 KiB pieces that
    differ from what v's chain reads there: zeros over nothing allocate nothing.  ``chain_has``
    (whether the chain holds data in that range) may be passed when already known.  Returns
    the number of bytes written."""
    length = len(data)
    if length == 0:
        return 0
    a, b = offset // F.SECTOR, -(-(offset + length) // F.SECTOR)
    if chain_has is None:
        chain_has = v._chain_has_data(a, b)
    # bytes, not memoryviews: bytes compare with memcmp, memoryviews item by item
    new = data if isinstance(data, bytes) else bytes(data)
    if chain_has:
        skip = offset - a * F.SECTOR
        old = bytes(memoryview(v._read_sectors(a, b))[skip:skip + length])
    else:
        old = _zeros(length)
    if new == old:
        return 0
    view = memoryview(new)
    written = 0
    pos = 0
    run = None
    while pos < length:
        n = min(COMPARE_CHUNK, length - pos)
        if new[pos:pos + n] != old[pos:pos + n]:
            if run is None:
                run = pos
        elif run is not None:
            v.write(offset + run, view[run:pos])
            written += pos - run
            run = None
        pos += n
    if run is not None:
        v.write(offset + run, view[run:length])
        written += length - run
    return written


def import_raw(raw_path, vhd_path):
    """Write into the leaf vhd_path only what differs between raw_path and what
    the chain currently reads.  Returns the number of bytes written."""
    written = 0
    with VHD.open(vhd_path, writable=True) as v:
        v._levels()
        size = v.virtual_size
        fd = os.open(raw_path, os.O_RDONLY)
        try:
            rsize = os.fstat(fd).st_size
            if rsize > size:
                raise VHDError("%s (%d bytes) is larger than the virtual size of %s (%d)"
                               % (raw_path, rsize, vhd_path, size))
            bs = F.BLOCK_SIZE
            for blk in range(-(-size // bs)):
                start = blk * bs
                length = min(bs, size - start)
                a, b = start // F.SECTOR, -(-(start + length) // F.SECTOR)
                nxt = _seek_data(fd, start) if start < rsize else None
                raw_has = nxt is not None and nxt < start + length
                chain_has = v._chain_has_data(a, b)
                if not raw_has and not chain_has:
                    continue
                if raw_has:
                    new = _pread(fd, length, start)
                    if len(new) < length:
                        new = new + bytes(length - len(new))
                else:
                    new = _zeros(length)
                written += write_changed(v, start, new, chain_has)
        finally:
            os.close(fd)
    return written


def _check_footer(f, raw, now, label):
    out = []
    if f.cookie != F.FOOTER_COOKIE:
        return ["%s footer invalid: invalid cookie %r" % (label, f.cookie)]
    if not f.checksum_ok(raw):
        out.append("%s footer invalid: invalid checksum" % label)
    if not f.features & F.FEATURES_RESERVED:
        out.append("%s footer invalid: invalid 'reserved' feature" % label)
    if f.features & ~(F.FEATURES_TEMPORARY | F.FEATURES_RESERVED):
        out.append("%s footer invalid: invalid extra features" % label)
    if f.version != F.FILE_FORMAT_VERSION:
        out.append("%s footer invalid: invalid file format version" % label)
    if f.disk_type not in F.TYPE_NAMES:
        out.append("%s footer invalid: invalid type %d" % (label, f.disk_type))
    elif f.disk_type == F.TYPE_FIXED and f.data_offset != F.NO_OFFSET:
        out.append("%s footer invalid: invalid data offset" % label)
    if f.timestamp > now + F.TIMESTAMP_SLACK and f.timestamp < 0xF0000000:
        out.append("%s footer invalid: creation time in future" % label)
    if f.creator_app[:3] == b"tap" and f.creator_version > F.CREATOR_VERSION:
        out.append("%s footer invalid: unsupported tap creator version" % label)
    if F.chs(f.curr_size) < f.geometry:
        out.append("%s footer invalid: geometry too large" % label)
    if f.saved not in (0, 1):
        out.append("%s footer invalid: invalid 'saved' state" % label)
    if f.hidden not in (0, 1):
        out.append("%s footer invalid: invalid 'hidden' state" % label)
    if any(f.reserved):
        out.append("%s footer invalid: invalid 'reserved' bits" % label)
    return out


def _check_one(path):
    """Problems of one file (no parent walk).  Returns (problems, footer, header)."""
    problems = []
    try:
        st = os.stat(path)
    except OSError as e:
        return ["cannot stat %s: %s" % (path, e.strerror)], None, None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return ["%s is not a regular file or block device" % path], None, None
    eof = st.st_size
    if eof < F.FOOTER_SIZE:
        return ["file too small (%d bytes): truncated?" % eof], None, None
    if eof % F.SECTOR not in (0, F.SECTOR - 1):
        problems.append("invalid file size %d (not a multiple of 512): truncated?" % eof)
    now = F.vhd_time()
    with open(path, "rb") as fh:
        fd = fh.fileno()
        flen = F.SECTOR - 1 if eof % F.SECTOR == F.SECTOR - 1 else F.SECTOR
        praw = _pread(fd, flen, eof - flen).ljust(F.SECTOR, b"\0")
        primary = F.Footer.unpack(praw)
        perr = _check_footer(primary, praw, now, "primary")
        if perr:
            problems += perr
            # try to carry on from the backup copy to say more
            braw = _pread(fd, F.SECTOR, 0)
            backup = F.Footer.unpack(braw)
            if _check_footer(backup, braw, now, "backup") or backup.disk_type == F.TYPE_FIXED:
                return problems, None, None
            footer = backup
        else:
            footer = primary
        if footer.disk_type == F.TYPE_FIXED:
            if eof - F.FOOTER_SIZE < footer.curr_size:
                problems.append("fixed disk data (%d bytes) shorter than its virtual size %d: "
                                "truncated?" % (eof - F.FOOTER_SIZE, footer.curr_size))
            return problems, footer, None
        if not perr:
            braw = _pread(fd, F.SECTOR, 0)
            backup = F.Footer.unpack(braw)
            berr = _check_footer(backup, braw, now, "backup")
            if berr:
                problems += berr
            elif braw != praw:
                problems.append("primary and backup footers do not match")
        if footer.data_offset >= eof or footer.data_offset % F.SECTOR:
            problems.append("invalid header offset %d" % footer.data_offset)
            return problems, footer, None
        hraw = _pread(fd, F.HEADER_SIZE, footer.data_offset).ljust(F.HEADER_SIZE, b"\0")
        h = F.Header.unpack(hraw)
        if h.cookie != F.HEADER_COOKIE:
            problems.append("header is invalid: invalid cookie %r" % h.cookie)
            return problems, footer, None
        if not h.checksum_ok(hraw):
            problems.append("header is invalid: invalid checksum")
        if h.version != F.HEADER_VERSION:
            problems.append("header is invalid: invalid header version 0x%08x" % h.version)
        if h.data_offset != F.NO_OFFSET:
            problems.append("header is invalid: invalid data offset")
        if (h.table_offset <= 0 or h.table_offset % F.SECTOR
                or h.table_offset + h.max_table_entries * 4 > eof - F.FOOTER_SIZE):
            problems.append("header is invalid: invalid table offset %d" % h.table_offset)
            return problems, footer, h
        bs = h.block_size
        if bs < F.SECTOR or bs & (bs - 1):
            problems.append("header is invalid: invalid block size %d" % bs)
            return problems, footer, h
        if bs != F.BLOCK_SIZE:
            problems.append("header: unusual block size %d (blktap uses %d)" % (bs, F.BLOCK_SIZE))
        if h.reserved1 or any(h.reserved2):
            problems.append("header is invalid: invalid reserved bits")
        nblocks = -(-footer.curr_size // bs)
        if nblocks > h.max_table_entries:
            problems.append("VHD size (%d blocks) exceeds BAT size (%d)"
                            % (nblocks, h.max_table_entries))
            nblocks = h.max_table_entries
        for i, loc in enumerate(h.locators):
            if loc.code not in F.VALID_PLATFORMS:
                problems.append("invalid parent locator %d: invalid platform code 0x%08x"
                                % (i, loc.code))
        if footer.disk_type == F.TYPE_DIFF:
            if h.parent_timestamp > now + F.TIMESTAMP_SLACK and h.parent_timestamp < 0xF0000000:
                problems.append("differencing header is invalid: parent creation time in future")
            try:
                h.parent_name.decode("utf-16-be")
            except UnicodeDecodeError:
                problems.append("differencing header is invalid: invalid parent name")
        else:
            if any(h.parent_name):
                problems.append("invalid non-null parent name")
            if any(loc.code or loc.data_space or loc.data_len or loc.data_offset
                   for loc in h.locators):
                problems.append("invalid non-null parent locators")
            if any(h.parent_uuid):
                problems.append("invalid non-null parent uuid")
            if h.parent_timestamp:
                problems.append("invalid non-zero parent timestamp")
        # end of metadata
        spb = bs // F.SECTOR
        bm_secs = F.secs_round_up_no_zero(spb // 8)
        eoh = max(footer.data_offset + F.HEADER_SIZE,
                  h.table_offset + F.bytes_padded(h.max_table_entries * 4))
        batmap = None
        if footer.creator_app[:3] == b"tap" and footer.creator_version >= 0x00010002:
            bhoff = h.table_offset + F.bytes_padded(h.max_table_entries * 4)
            bh = F.BatmapHeader.unpack(_pread(fd, F.SECTOR, bhoff))
            if bh.cookie != F.BATMAP_COOKIE:
                problems.append("batmap is invalid: invalid cookie")
            else:
                eoh = max(eoh, bhoff + F.SECTOR, bh.offset + bh.size * F.SECTOR)
                mapraw = _pread(fd, bh.size * F.SECTOR, bh.offset)
                if bh.version > F.BATMAP_VERSION:
                    problems.append("batmap is invalid: unsupported batmap version")
                elif not bh.size:
                    problems.append("batmap is invalid: invalid size zero")
                elif (bh.size << (F.SECTOR_SHIFT + 3)) < h.max_table_entries:
                    problems.append("batmap is invalid: batmap-BAT size mismatch")
                elif not bh.offset or bh.offset % F.SECTOR:
                    problems.append("batmap is invalid: invalid batmap offset")
                elif bh.offset + bh.size * F.SECTOR > eof - F.FOOTER_SIZE:
                    problems.append("batmap is invalid: invalid batmap size")
                elif F.batmap_checksum(mapraw, footer.curr_size, bh.version) != bh.checksum:
                    problems.append("batmap is invalid: invalid checksum")
                else:
                    batmap = mapraw
        for i, loc in enumerate(h.locators):
            if loc.code == F.PLAT_NONE:
                continue
            if not loc.data_offset:
                problems.append("invalid parent locator %d: invalid data offset" % i)
            elif not loc.data_space or not loc.space_bytes:
                problems.append("invalid parent locator %d: invalid data space" % i)
            elif not loc.data_len:
                problems.append("invalid parent locator %d: invalid data length" % i)
            elif loc.data_offset + loc.space_bytes > eof - F.FOOTER_SIZE:
                problems.append("invalid parent locator %d: invalid size (beyond EOF)" % i)
            elif loc.data_len > loc.space_bytes:
                problems.append("invalid parent locator %d: data length exceeds space" % i)
            else:
                eoh = max(eoh, loc.data_offset + loc.space_bytes)
        # BAT
        bat = _bat_from_bytes(_pread(fd, nblocks * 4, h.table_offset), nblocks)
        blk_secs = spb + bm_secs
        eof_secs = (F.round_up(eof, F.SECTOR) - F.FOOTER_SIZE) // F.SECTOR
        eoh_secs = -(-eoh // F.SECTOR)
        used = []
        for i, off in enumerate(bat):
            if off == F.BAT_UNUSED:
                if batmap is not None and batmap[i >> 3] & (0x80 >> (i & 7)):
                    problems.append("batmap shows unallocated block %d full" % i)
                continue
            if off < eoh_secs:
                problems.append("block %d (offset 0x%x) clobbers headers" % (i, off))
            elif off + blk_secs > eof_secs:
                problems.append("block %d (offset 0x%x) beyond end of file / clobbers footer"
                                % (i, off))
            used.append((off, i))
        used.sort()
        for (o1, i1), (o2, i2) in zip(used, used[1:]):
            if o2 < o1 + blk_secs:
                problems.append("block %d (offset 0x%x) overlaps block %d (offset 0x%x)"
                                % (i2, o2, i1, o1))
        if batmap is not None:
            for off, i in used:
                if batmap[i >> 3] & (0x80 >> (i & 7)):
                    bm = _pread(fd, bm_secs * F.SECTOR, off * F.SECTOR)
                    if bitmap_runs(bm, spb) != ((0, spb),):
                        problems.append("batmap shows block %d full but its bitmap is not" % i)
    return problems, footer, h


def _check_parent(path, footer, h):
    """Locator / parent checks for a differencing disk.  Returns (problems, parent path)."""
    problems = []
    try:
        v = VHD.open(path)
    except VHDError as e:
        return [str(e)], None
    with v:
        pname = h.parent_unicode_name
        paths = v.locator_paths()
        if not paths:
            problems.append("no usable parent locator")
        for plat, p in paths:
            if os.path.basename(p) != pname:
                problems.append("parent locator %s name (%s) does not match header name (%s)"
                                % (plat, os.path.basename(p), pname))
        ppath = v.parent_path
        if ppath is None or not os.path.exists(ppath):
            problems.append("parent missing: could not find parent %s (%s)"
                            % (pname, ppath or "no locator"))
            return problems, None
        try:
            with VHD.open(ppath) as parent:
                if parent.footer.uuid != h.parent_uuid:
                    problems.append("invalid parent %s: parent uuid mismatch (header %s, "
                                    "parent %s)" % (ppath, v.parent_uuid, parent.uuid))
                if parent.virtual_size > footer.curr_size:
                    problems.append("parent size mismatch: parent %s virtual size %d > %d"
                                    % (ppath, parent.virtual_size, footer.curr_size))
        except VHDError as e:
            problems.append("invalid parent %s: error opening parent (%s)" % (ppath, e))
            return problems, None
        return problems, ppath


def check(path, check_parents=False):
    """Problems found in path (and with check_parents its ancestors); [] = valid."""
    problems, footer, h = _check_one(path)
    ppath = None
    if footer is not None and h is not None and footer.disk_type == F.TYPE_DIFF:
        more, ppath = _check_parent(path, footer, h)
        problems += more
    if check_parents and ppath and not problems:
        seen = {os.path.realpath(path)}
        cur = ppath
        while cur:
            if os.path.realpath(cur) in seen or len(seen) > 64:
                problems.append("parent chain loops at %s" % cur)
                break
            seen.add(os.path.realpath(cur))
            p2, f2, h2 = _check_one(cur)
            nxt = None
            if f2 is not None and h2 is not None and f2.disk_type == F.TYPE_DIFF:
                more, nxt = _check_parent(cur, f2, h2)
                p2 += more
            problems += ["%s: %s" % (cur, m) for m in p2]
            if p2:
                break
            cur = nxt
    return problems

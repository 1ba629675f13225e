"""A VHD as one sequential byte stream, written or read without seeking (HTTP bodies).

Writing (``export_stream``): what xapi's vhd-tool sends for ``format=vhd`` (the vhd-format
library's ``Vhd_input.vhd``): a dynamic VHD holding every block allocated anywhere in the
chain, or, given a base, a differencing VHD holding the blocks allocated in a file that one
chain has and the other has not.  Each block goes out whole with a full sector bitmap; the
data is what the chain reads.  Layout as blktap lays out a file: footer copy, header, parent
locators, BAT, batmap, blocks, footer.

Reading (``StreamReader``): a dynamic or differencing VHD whose structures come in file
order (footer copy, header, BAT before the blocks, blocks by increasing offset), which is
how every VHD writer lays them out.  It yields the sectors each block's bitmap marks present.
"""

import os
import struct
import uuid as uuidlib

from . import format as F
from .disk import VHD, ZERO_BLOCK, bitmap_runs
from .format import VHDError


# ------------------------------------------------------------------ writing
def _level_key(v):
    return (bytes(v.footer.uuid), os.path.basename(v.path))


def _allocated(v):
    """Block indexes with data in this one file (a fixed file: the blocks that are not holes)."""
    if v.is_dynamic:
        return {i for i, off in enumerate(v.bat) if off != F.BAT_UNUSED}
    a = set()
    for off, length in v.data_extents():
        a.update(range(off // F.BLOCK_SIZE, -(-(off + length) // F.BLOCK_SIZE)))
    return a


def _chain_files(v):
    """The files whose BATs make up v's disk: v and its parents up to the first non-differencing one."""
    out = []
    for lvl in v._levels():
        out.append(lvl)
        if lvl.footer.disk_type != F.TYPE_DIFF:
            break
    return out


def included_blocks(leaf, base=None):
    """Sorted block indexes an export carries (vhd-format's ``include_block``): blocks in any BAT
    of the leaf's chain, or, relative to ``base``, in any BAT of a file in one chain only."""
    mine = {_level_key(v): v for v in _chain_files(leaf)}
    if base is None:
        files = mine.values()
    else:
        theirs = {_level_key(v): v for v in _chain_files(base)}
        files = [v for k, v in mine.items() if k not in theirs] + [v for k, v in theirs.items() if k not in mine]
    blocks = set()
    for v in files:
        blocks |= _allocated(v)
    nblocks = -(-leaf.virtual_size // F.BLOCK_SIZE)
    return sorted(b for b in blocks if b < nblocks)


def export_stream(leaf_path, base_path=None, uuid=None, blocks_done=None):
    """Yield the bytes of the VHD export of ``leaf_path`` (dynamic), or of its differences from
    ``base_path`` (differencing, parent ``<base uuid>.vhd`` beside it).  ``blocks_done(n, total)``
    is called as blocks go out."""
    with VHD.open(leaf_path) as leaf:
        base = VHD.open(base_path) if base_path else None
        try:
            yield from _export(leaf, base, uuid, blocks_done)
        finally:
            if base is not None:
                base.close()


def _export(leaf, base, uuid, blocks_done):
    size = leaf.virtual_size
    entries = -(-size // F.BLOCK_SIZE)
    blocks = included_blocks(leaf, base)
    disk_type = F.TYPE_DIFF if base is not None else F.TYPE_DYNAMIC

    footer = F.Footer()
    footer.timestamp = F.vhd_time()
    footer.orig_size = footer.curr_size = size
    footer.geometry = F.chs(size)
    footer.disk_type = disk_type
    footer.uuid = F.uuid_bytes(uuid or uuidlib.uuid4())
    footer.data_offset = F.SECTOR

    header = F.Header()
    header.max_table_entries = entries
    header.block_size = F.BLOCK_SIZE
    end = F.SECTOR + F.HEADER_SIZE
    locators = []
    if base is not None:
        name = "%s.vhd" % base.uuid
        header.parent_uuid = base.footer.uuid
        header.parent_timestamp = F.vhd_time(os.stat(base.path).st_mtime)
        header.parent_name = F.encode_parent_name(name)
        for i, code in enumerate(F.WRITTEN_PLATFORMS):
            payload = F.encode_locator(code, "./" + name)
            space = F.round_up(len(payload), F.SECTOR)
            header.locators[i] = F.Locator(code=code, data_space=space // F.SECTOR, data_len=len(payload),
                                           data_offset=end)
            locators.append(payload.ljust(space, b"\0"))
            end += space
    header.table_offset = end
    bat_bytes = F.bytes_padded(entries * 4)
    batmap = F.BatmapHeader()
    batmap.offset = end + bat_bytes + F.SECTOR
    batmap.size = F.secs_round_up_no_zero((entries + 7) >> 3)
    first = batmap.offset + batmap.size * F.SECTOR

    bm_bytes = F.bytes_padded(F.BLOCK_SIZE // F.SECTOR // 8)
    block_bytes = bm_bytes + F.BLOCK_SIZE
    bat = [F.BAT_UNUSED] * entries
    mapbytes = bytearray(batmap.size * F.SECTOR)
    for n, blk in enumerate(blocks):
        bat[blk] = (first + n * block_bytes) // F.SECTOR
        mapbytes[blk >> 3] |= 0x80 >> (blk & 7)        # every block goes out full
    batmap.checksum = F.batmap_checksum(mapbytes, size)

    fraw = footer.pack()
    yield fraw
    yield header.pack()
    for payload in locators:
        yield payload
    yield struct.pack(">%dI" % entries, *bat).ljust(bat_bytes, b"\xff")
    yield batmap.pack()
    yield bytes(mapbytes)
    bitmap = b"\xff" * bm_bytes
    spb = F.BLOCK_SIZE // F.SECTOR
    for n, blk in enumerate(blocks):
        a = blk * spb
        b = min(a + spb, -(-size // F.SECTOR))
        data = leaf._read_sectors(a, b) if leaf._chain_has_data(a, b) else ZERO_BLOCK
        yield bitmap
        if len(data) != F.BLOCK_SIZE:
            data = bytes(data).ljust(F.BLOCK_SIZE, b"\0")
        yield data
        if blocks_done is not None:
            blocks_done(n + 1, len(blocks))
    yield fraw


# ------------------------------------------------------------------ reading
class StreamReader:
    """Parse a VHD from ``read(n)`` (a file-like read that may return short only at the end).

    After construction ``footer``, ``header``, ``virtual_size``, ``disk_type`` and ``parent_uuid``
    are known; ``blocks()`` then yields ``(byte offset, data, runs)`` per allocated block, runs
    being the (start, end) byte ranges within ``data`` its bitmap marks present.
    """

    def __init__(self, read):
        self._read = read
        self.pos = 0
        raw = self._exactly(F.FOOTER_SIZE)
        footer = F.Footer.unpack(raw)
        if footer.cookie != F.FOOTER_COOKIE or not footer.checksum_ok(raw):
            raise VHDError("the stream does not start with a VHD footer (bad cookie or checksum)")
        if footer.disk_type not in (F.TYPE_DYNAMIC, F.TYPE_DIFF):
            raise VHDError("a %s VHD cannot be streamed in (its footer comes last); send it as raw"
                           % F.TYPE_NAMES.get(footer.disk_type, "type %d" % footer.disk_type))
        self.footer = footer
        self._skip_to(footer.data_offset)
        hraw = self._exactly(F.HEADER_SIZE)
        header = F.Header.unpack(hraw)
        if header.cookie != F.HEADER_COOKIE or not header.checksum_ok(hraw):
            raise VHDError("bad VHD dynamic header in the stream (cookie or checksum)")
        if header.block_size < F.SECTOR or header.block_size & (header.block_size - 1):
            raise VHDError("invalid VHD block size %d" % header.block_size)
        self.header = header
        self._skip_to(header.table_offset)
        n = header.max_table_entries
        self.bat = struct.unpack(">%dI" % n, self._exactly(n * 4))
        self.spb = header.block_size // F.SECTOR
        self.bm_bytes = F.bytes_padded(self.spb // 8)

    @property
    def virtual_size(self):
        return self.footer.curr_size

    @property
    def disk_type(self):
        return F.TYPE_NAMES[self.footer.disk_type]

    @property
    def parent_uuid(self):
        return F.canonical_uuid(self.header.parent_uuid) if self.footer.disk_type == F.TYPE_DIFF else None

    def _exactly(self, n):
        parts, got = [], 0
        while got < n:
            chunk = self._read(n - got)
            if not chunk:
                raise VHDError("the VHD stream ended at byte %d, %d bytes short" % (self.pos + got, n - got))
            parts.append(chunk)
            got += len(chunk)
        self.pos += n
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _skip_to(self, offset):
        if offset < self.pos:
            raise VHDError("VHD structure at byte %d comes before byte %d already read: not in stream order"
                           % (offset, self.pos))
        while self.pos < offset:
            self._exactly(min(offset - self.pos, 1 << 20))

    def blocks(self):
        order = sorted((off, i) for i, off in enumerate(self.bat) if off != F.BAT_UNUSED)
        bs = self.header.block_size
        size = self.virtual_size
        for off, i in order:
            self._skip_to(off * F.SECTOR)
            bitmap = self._exactly(self.bm_bytes)
            data = self._exactly(bs)
            start = i * bs
            runs = [(s * F.SECTOR, min(e * F.SECTOR, size - start)) for s, e in bitmap_runs(bitmap, self.spb)]
            runs = [(s, e) for s, e in runs if s < e]
            if runs:
                yield start, data, runs

    def finish(self):
        """Read the trailing footer when the stream has one (a short tail is tolerated)."""
        try:
            raw = self._read(F.FOOTER_SIZE)
        except OSError:
            return
        self.pos += len(raw or b"")

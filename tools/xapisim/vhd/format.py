"""On-disk structures of the Microsoft VHD format, as blktap's libvhd writes them.

Everything here is pure data: packing/unpacking of the footer, the dynamic disk
("cxsparse") header, the blktap batmap header, parent locators, checksums and the
CHS geometry.  All integers are big-endian on disk.
"""

import os
import struct
import time
import uuid as uuidlib
from dataclasses import dataclass, field


class VHDError(Exception):
    """Any problem reading, writing or interpreting a VHD file."""


SECTOR = 512
SECTOR_SHIFT = 9
BLOCK_SIZE = 2 * 1024 * 1024
BLOCK_SHIFT = 21

FOOTER_SIZE = 512
HEADER_SIZE = 1024
FOOTER_COOKIE = b"conectix"
HEADER_COOKIE = b"cxsparse"
BATMAP_COOKIE = b"tdbatmap"

FEATURES_RESERVED = 0x00000002
FEATURES_TEMPORARY = 0x00000001
FILE_FORMAT_VERSION = 0x00010000
HEADER_VERSION = 0x00010000
CREATOR_APP = b"tap\0"
CREATOR_VERSION = 0x00010003          # blktap VHD_CURRENT_VERSION (1.3)
CREATOR_OS = b"Wi2k"
BATMAP_VERSION = 0x00010002           # blktap VHD_BATMAP_CURRENT_VERSION (1.2)

NO_OFFSET = 0xFFFFFFFFFFFFFFFF
BAT_UNUSED = 0xFFFFFFFF

TYPE_FIXED = 2
TYPE_DYNAMIC = 3
TYPE_DIFF = 4
TYPE_NAMES = {TYPE_FIXED: "fixed", TYPE_DYNAMIC: "dynamic", TYPE_DIFF: "differencing"}

# parent locator platform codes
PLAT_NONE = 0
PLAT_WI2R = 0x57693272  # 'Wi2r'
PLAT_WI2K = 0x5769326B  # 'Wi2k'
PLAT_W2RU = 0x57327275  # 'W2ru'
PLAT_W2KU = 0x57326B75  # 'W2ku'
PLAT_MAC = 0x4D616320   # 'Mac '
PLAT_MACX = 0x4D616358  # 'MacX'
VALID_PLATFORMS = {PLAT_NONE, PLAT_WI2R, PLAT_WI2K, PLAT_W2RU, PLAT_W2KU, PLAT_MAC, PLAT_MACX}
# what we write, in blktap's order
WRITTEN_PLATFORMS = (PLAT_MACX, PLAT_W2KU, PLAT_W2RU)
# room reserved per locator (bytes); blktap reserves just the padded length, we keep a
# little slack so that a later re-parent to a longer relative path fits in place.
LOCATOR_SPACE = 1024

VHD_EPOCH = 946684800  # 2000-01-01T00:00:00Z as a Unix timestamp
TIMESTAMP_SLACK = 1800

_FOOTER = struct.Struct(">8sIIQI4sI4sQQIII16sBB426s")
_HEADER = struct.Struct(">8sQQIIII16sII512s")
_LOCATOR = struct.Struct(">IIIIQ")
_BATMAP_HDR = struct.Struct(">8sQIIIB")

assert _FOOTER.size == FOOTER_SIZE
assert _HEADER.size == 576


def vhd_time(unix_time=None):
    """Seconds since 2000-01-01 UTC, as a 32-bit value."""
    if unix_time is None:
        unix_time = time.time()
    return int(unix_time - VHD_EPOCH) & 0xFFFFFFFF


def round_up(value, unit):
    return -(-value // unit) * unit


def secs_round_up_no_zero(nbytes):
    return max(1, -(-nbytes // SECTOR))


def bytes_padded(nbytes):
    return secs_round_up_no_zero(nbytes) * SECTOR


def checksum(buf, field_offset):
    """One's complement of the byte sum, with the 4-byte checksum field counted as zero."""
    total = sum(buf) - sum(buf[field_offset:field_offset + 4])
    return (~total) & 0xFFFFFFFF


def chs(size):
    """CHS geometry per the VHD specification (Appendix: CHS calculation)."""
    secs = max(1, -(-size // SECTOR))
    if secs > 65535 * 16 * 255:
        secs = 65535 * 16 * 255
    if secs >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = secs // spt
    else:
        spt = 17
        cth = secs // spt
        heads = (cth + 1023) // 1024
        if heads < 4:
            heads = 4
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = secs // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = secs // spt
    cylinders = cth // heads
    return (cylinders & 0xFFFF) << 16 | (heads & 0xFF) << 8 | (spt & 0xFF)


def canonical_uuid(value):
    if value is None:
        return str(uuidlib.uuid4())
    if isinstance(value, uuidlib.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return str(uuidlib.UUID(bytes=bytes(value)))
    try:
        return str(uuidlib.UUID(str(value)))
    except ValueError:
        raise VHDError("invalid uuid %r" % (value,)) from None


def uuid_bytes(value):
    return uuidlib.UUID(canonical_uuid(value)).bytes


@dataclass
class Footer:
    cookie: bytes = FOOTER_COOKIE
    features: int = FEATURES_RESERVED
    version: int = FILE_FORMAT_VERSION
    data_offset: int = NO_OFFSET
    timestamp: int = 0
    creator_app: bytes = CREATOR_APP
    creator_version: int = CREATOR_VERSION
    creator_os: bytes = CREATOR_OS
    orig_size: int = 0
    curr_size: int = 0
    geometry: int = 0
    disk_type: int = TYPE_FIXED
    checksum: int = 0
    uuid: bytes = b"\0" * 16
    saved: int = 0
    hidden: int = 0
    reserved: bytes = b"\0" * 426

    def pack(self):
        """Bytes with a freshly computed checksum (self.checksum is updated)."""
        raw = bytearray(_FOOTER.pack(
            self.cookie, self.features, self.version, self.data_offset, self.timestamp,
            self.creator_app, self.creator_version, self.creator_os, self.orig_size,
            self.curr_size, self.geometry, self.disk_type, 0, self.uuid, self.saved,
            self.hidden, self.reserved))
        self.checksum = checksum(raw, 64)
        struct.pack_into(">I", raw, 64, self.checksum)
        return bytes(raw)

    @classmethod
    def unpack(cls, raw):
        if len(raw) < FOOTER_SIZE:
            raw = bytes(raw) + b"\0" * (FOOTER_SIZE - len(raw))
        return cls(*_FOOTER.unpack(raw[:FOOTER_SIZE]))

    def checksum_ok(self, raw):
        return checksum(raw[:FOOTER_SIZE], 64) == self.checksum


@dataclass
class Locator:
    code: int = PLAT_NONE
    data_space: int = 0     # as stored (sectors per spec; some writers store bytes)
    data_len: int = 0
    reserved: int = 0
    data_offset: int = 0

    @property
    def space_bytes(self):
        """blktap's interpretation: < 512 means sectors, otherwise bytes."""
        if self.data_space < 512:
            return self.data_space * SECTOR
        if self.data_space % SECTOR == 0:
            return self.data_space
        return 0


@dataclass
class Header:
    cookie: bytes = HEADER_COOKIE
    data_offset: int = NO_OFFSET
    table_offset: int = 3 * SECTOR
    version: int = HEADER_VERSION
    max_table_entries: int = 0
    block_size: int = BLOCK_SIZE
    checksum: int = 0
    parent_uuid: bytes = b"\0" * 16
    parent_timestamp: int = 0
    reserved1: int = 0
    parent_name: bytes = b"\0" * 512
    locators: list = field(default_factory=lambda: [Locator() for _ in range(8)])
    reserved2: bytes = b"\0" * 256

    def pack(self):
        raw = bytearray(HEADER_SIZE)
        _HEADER.pack_into(raw, 0, self.cookie, self.data_offset, self.table_offset,
                          self.version, self.max_table_entries, self.block_size, 0,
                          self.parent_uuid, self.parent_timestamp, self.reserved1,
                          self.parent_name)
        for i, loc in enumerate(self.locators):
            _LOCATOR.pack_into(raw, 576 + 24 * i, loc.code, loc.data_space, loc.data_len,
                               loc.reserved, loc.data_offset)
        raw[768:1024] = self.reserved2
        self.checksum = checksum(raw, 36)
        struct.pack_into(">I", raw, 36, self.checksum)
        return bytes(raw)

    @classmethod
    def unpack(cls, raw):
        raw = bytes(raw)
        if len(raw) < HEADER_SIZE:
            raw += b"\0" * (HEADER_SIZE - len(raw))
        vals = _HEADER.unpack_from(raw, 0)
        h = cls(*vals)
        h.locators = [Locator(*_LOCATOR.unpack_from(raw, 576 + 24 * i)) for i in range(8)]
        h.reserved2 = raw[768:1024]
        return h

    def checksum_ok(self, raw):
        return checksum(raw[:HEADER_SIZE], 36) == self.checksum

    @property
    def parent_unicode_name(self):
        name = self.parent_name
        # UTF-16BE, NUL padded
        n = len(name)
        while n >= 2 and name[n - 2:n] == b"\0\0":
            n -= 2
        return name[:n].decode("utf-16-be", errors="replace")


@dataclass
class BatmapHeader:
    cookie: bytes = BATMAP_COOKIE
    offset: int = 0
    size: int = 0           # sectors
    version: int = BATMAP_VERSION
    checksum: int = 0
    marker: int = 0

    def pack(self):
        raw = bytearray(SECTOR)
        _BATMAP_HDR.pack_into(raw, 0, self.cookie, self.offset, self.size, self.version,
                              self.checksum, self.marker)
        return bytes(raw)

    @classmethod
    def unpack(cls, raw):
        return cls(*_BATMAP_HDR.unpack_from(bytes(raw).ljust(_BATMAP_HDR.size, b"\0"), 0))


def batmap_checksum(mapbytes, curr_size, version=BATMAP_VERSION):
    """blktap: one's complement of the sum of the first map bytes covering curr_size."""
    n = secs_round_up_no_zero(curr_size >> (BLOCK_SHIFT + 3)) * SECTOR
    blob = bytes(mapbytes[:n])
    if version == 0x00010001:   # 1.1 summed signed chars
        total = sum(b - 256 if b > 127 else b for b in blob)
    else:
        total = sum(blob)
    return (~total) & 0xFFFFFFFF


def encode_parent_name(path):
    name = os.path.basename(path).encode("utf-16-be")
    if len(name) > 512:
        raise VHDError("parent name too long: %s" % os.path.basename(path))
    return name.ljust(512, b"\0")


def relative_locator_path(child_path, parent_path):
    """Path of the parent relative to the child's directory, blktap style ('./x', '../d/x')."""
    cdir = os.path.dirname(os.path.realpath(child_path))
    ppath = os.path.realpath(parent_path)
    rel = os.path.relpath(ppath, cdir)
    if not rel.startswith("../") and rel != "..":
        rel = "./" + rel
    return rel


def encode_locator(code, relpath):
    if code == PLAT_MACX:
        return ("file://" + relpath).encode("utf-8")
    if code in (PLAT_W2KU, PLAT_W2RU):
        if relpath.startswith("/"):
            p = relpath
        else:
            p = relpath[2:] if relpath.startswith("./") else relpath
            p = ".\\" + p
        return p.replace("/", "\\").encode("utf-16-le")
    raise VHDError("unsupported locator platform code 0x%08x" % code)


def decode_locator(code, data):
    """Locator payload -> path string (POSIX separators), or None if undecodable."""
    try:
        if code == PLAT_MACX:
            s = bytes(data).decode("utf-8").rstrip("\0")
            if not s.startswith("file://"):
                return None
            s = s[len("file://"):]
            return s or None
        if code in (PLAT_W2KU, PLAT_W2RU):
            s = bytes(data).decode("utf-16-le").rstrip("\0").replace("\\", "/")
            if s[:2] in ("C:", "c:"):
                s = s[2:]
            return s or None
    except UnicodeDecodeError:
        return None
    return None


def platform_name(code):
    if code == PLAT_NONE:
        return "none"
    try:
        return struct.pack(">I", code).decode("ascii")
    except UnicodeDecodeError:
        return "0x%08x" % code

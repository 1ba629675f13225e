"""XXH64 (seed 0), the checksum xapi writes beside each chunk of a tar VDI stream as ``%016X``.

From the xxHash specification (doc/xxhash_spec.md of Cyan4973/xxHash).  The ``xxhash`` module
is used when it is installed; the pure-Python fallback does about 10 MiB/s.
"""

import struct

try:                                    # pragma: no cover - depends on the machine
    import xxhash as _xxhash
except ImportError:                     # pragma: no cover
    _xxhash = None

P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
P3 = 0x165667B19E3779F9
P4 = 0x85EBCA77C2B2AE63
P5 = 0x27D4EB2F165667C5
M = 0xFFFFFFFFFFFFFFFF


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M


def _round(acc, lane):
    acc = (acc + lane * P2) & M
    return (_rotl(acc, 31) * P1) & M


def _merge(acc, v):
    acc ^= _round(0, v)
    return (acc * P1 + P4) & M


def xxh64_python(data, seed=0):
    data = bytes(data)
    n = len(data)
    pos = 0
    if n >= 32:
        v1, v2, v3, v4 = (seed + P1 + P2) & M, (seed + P2) & M, seed & M, (seed - P1) & M
        stripes = n // 32
        lanes = struct.unpack_from("<%dQ" % (stripes * 4), data)
        for i in range(0, stripes * 4, 4):
            v1 = _round(v1, lanes[i])
            v2 = _round(v2, lanes[i + 1])
            v3 = _round(v3, lanes[i + 2])
            v4 = _round(v4, lanes[i + 3])
        pos = stripes * 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & M
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while pos + 8 <= n:
        h ^= _round(0, struct.unpack_from("<Q", data, pos)[0])
        h = (_rotl(h, 27) * P1 + P4) & M
        pos += 8
    if pos + 4 <= n:
        h ^= (struct.unpack_from("<I", data, pos)[0] * P1) & M
        h = (_rotl(h, 23) * P2 + P3) & M
        pos += 4
    while pos < n:
        h ^= (data[pos] * P5) & M
        h = (_rotl(h, 11) * P1) & M
        pos += 1
    h ^= h >> 33
    h = (h * P2) & M
    h ^= h >> 29
    h = (h * P3) & M
    h ^= h >> 32
    return h


def xxh64(data, seed=0):
    if _xxhash is not None:
        return _xxhash.xxh64_intdigest(data, seed)
    return xxh64_python(data, seed)

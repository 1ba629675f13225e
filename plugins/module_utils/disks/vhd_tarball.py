# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The members of a VHD tarball from outside (Glance ``container_format: ovf``, ``disk_format: vhd``) unpacked.

XenAPI's dom0 ``glance`` plugin uploads a snapshot as an uncompressed or gzipped tar of
``0.vhd`` .. ``n.vhd``.  Such a tarball is read here as a stream (never seeked, so it can come
straight from the download) and only what that shape allows is written:

- plain or gzip only (the first two bytes tell), read with tarfile's stream mode;
- each member a regular file (no link, device, directory, FIFO), not sparse (GNU or PAX sparse
  maps are refused), named exactly ``<n>.vhd`` with n running 0, 1, 2, ... in order (no path, no
  ``./``, no other name);
- the members' sizes together at most ``max_bytes`` (checked from the header before a byte is
  written, and counted while writing);
- each written to a new file (``O_EXCL``, no link followed) in a directory of a confined Root.

Whatever the tarball holds after its end-of-archive blocks is read and dropped, so that the
writer feeding the stream is never blocked.
"""

from __future__ import annotations

import io
import os
import re
import tarfile

from ansible_collections.novaops.compute.plugins.module_utils.disks.image_format import UnsafeImage

MEMBER_NAME = re.compile(r"(0|[1-9][0-9]{0,3})\.vhd")
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1024 * 1024


def _refuse(reason):
    raise UnsafeImage("Refusing the VHD tarball: %s." % reason)


def _check_member(member, index, total, max_bytes):
    shown = member.name[:80]
    if not member.isreg() or member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        _refuse("its member %r is not a regular file (tar type %r)" % (shown, member.type))
    if member.sparse is not None or any(k.startswith("GNU.sparse") for k in member.pax_headers):
        _refuse("its member %r is sparse" % shown)
    if not MEMBER_NAME.fullmatch(member.name):
        _refuse("its member %r is not named <n>.vhd" % shown)
    if member.name != "%d.vhd" % index:
        _refuse("its member %r comes where %d.vhd belongs (0.vhd, 1.vhd, ... in order)" % (shown, index))
    if total + member.size > max_bytes:
        _refuse("its members add up to more than %d bytes (%s is %d)" % (max_bytes, shown, member.size))


def unpack(stream, root, rel_dir, max_plain, max_compressed):
    """Unpack the tarball read from ``stream`` into ``rel_dir`` of ``root``; returns the member names in order.

    ``max_plain``: the bound of the members' sizes of an uncompressed tarball (Glance's size of
    it), ``max_compressed``: of a gzipped one."""
    reader = io.BufferedReader(stream, CHUNK)
    gzipped = reader.peek(2)[:2] == GZIP_MAGIC
    max_bytes = max_compressed if gzipped else max_plain
    names = []
    total = 0
    try:
        with tarfile.open(fileobj=reader, mode="r|gz" if gzipped else "r|") as tar:
            for member in tar:
                _check_member(member, len(names), total, max_bytes)
                total += _write_member(tar.extractfile(member), member.size, root, tuple(rel_dir) + (member.name,))
                names.append(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        _refuse("it is no readable%s tar: %s" % (" gzipped" if gzipped else "", exc))
    while reader.read(CHUNK):
        pass
    if not names:
        _refuse("it holds no member")
    return names


def _write_member(src, size, root, rel):
    fd = root.create(rel, mode=0o600)
    written = 0
    with os.fdopen(fd, "wb") as out:
        while written < size:
            chunk = src.read(min(CHUNK, size - written))
            if not chunk:
                _refuse("it ends inside its member %s" % rel[-1])
            out.write(chunk)
            written += len(chunk)
    return written

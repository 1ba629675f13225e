# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The format of an image from outside, told from its bytes in Python before qemu-img sees it.

qemu-img left to guess a format opens what the image names: a qcow2's backing or data file, a
vmdk descriptor's extents (``/etc/shadow``, or a FIFO that hangs it for ever).  So an image
from Glance, a URL or a file is read here first, from an open descriptor:

- ``qcow2`` (version 2 or 3): refused with a backing file, an external data file (the
  incompatible feature bit or its header extension);
- ``vmdk``: only a monolithic sparse file (``KDMV`` with a capacity, an embedded descriptor of
  type monolithicSparse or streamOptimized and at most one extent: the file itself); a text
  descriptor, a header that defers to its descriptor (capacity 0) and the old ``COWD`` are refused;
- ``vpc`` (VHD): fixed or dynamic, with its footer copy at the start or its footer at the end;
  a differencing VHD (it names its parent) is refused;
- the magic of any other format qemu knows (qcow 1, QED, VHDX, VDI, LUKS, parallels, bochs,
  cloop) is refused by name;
- anything else is ``raw``.

qemu-img is then only ever run with ``-f`` set to that format (``check_info`` compares what it
saw with what was read here).  A file is read the same way every time, so the base cache, whose
files are never written after they were checked, gets the same answer on each run.
"""

from __future__ import annotations

import os
import re
import struct

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

ALLOWED = ("raw", "qcow2", "vpc", "vmdk")
GLANCE_NAMES = {"vhd": "vpc"}          # Glance's disk_format -> qemu's format name
QCOW2_MAGIC = b"QFI\xfb"
QCOW2_DATA_FILE_BIT = 1 << 2          # incompatible feature: external data file
QCOW2_EXT_DATA_FILE = 0x44415441      # header extension: external data file name
VMDK_SPARSE = b"KDMV"
VMDK_SPARSE_TYPES = ("monolithicSparse", "streamOptimized")
VPC_COOKIE = b"conectix"
VPC_DIFFERENCING = 4
MAX_HEADER = 2 * 1024 * 1024          # the most of an image read here (a qcow2's first cluster at most)
OTHER_MAGIC = ((0, b"QED\x00", "QED"), (0, b"vhdxfile", "VHDX"), (0, b"LUKS\xba\xbe", "LUKS"),
               (0, b"WithoutFreeSpace", "parallels"), (0, b"WithouFreSpacExt", "parallels"),
               (0, b"Bochs Virtual HD Image", "bochs"), (0, b"#!/bin/sh\n#V2.0 Format\n", "cloop"),
               (0, b"COWD", "vmdk version 3 (COWD)"), (0x40, struct.pack("<I", 0xbeda107f), "VDI"))


class UnsafeImage(NovaopsError):
    """An image that names other files, or is of a format that is not allowed."""


def _read_at(fd, offset, length):
    return os.pread(fd, length, offset)


def detect_format(fd, what="the image"):
    """The format (one of ALLOWED) of the image open at ``fd``; UnsafeImage when it may not be used."""
    size = os.fstat(fd).st_size
    head = _read_at(fd, 0, 4096)
    if head[:4] == QCOW2_MAGIC:
        return _qcow2(fd, head, what)
    if head[:4] == VMDK_SPARSE:
        return _vmdk_sparse(fd, head, what)
    if head[:8] == VPC_COOKIE or (size >= 512 and _read_at(fd, size - 512, 8) == VPC_COOKIE):
        footer = head[:512] if head[:8] == VPC_COOKIE else _read_at(fd, size - 512, 512)
        if len(footer) >= 64 and struct.unpack(">I", footer[60:64])[0] == VPC_DIFFERENCING:
            raise UnsafeImage("Refusing %s: it is a differencing VHD, which names a parent file." % what)
        return "vpc"
    for offset, magic, name in OTHER_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            raise UnsafeImage("Refusing %s: it is a %s image; only %s are allowed." % (
                what, name, ", ".join(ALLOWED)), image_format=name)
    if _looks_like_vmdk_descriptor(head):
        raise UnsafeImage("Refusing %s: it is a vmdk descriptor, which names other files as its extents; only a "
                          "monolithic sparse vmdk is allowed." % what, image_format="vmdk")
    return "raw"


def _qcow2(fd, head, what):
    version = struct.unpack(">I", head[4:8])[0]
    if version not in (2, 3):
        raise UnsafeImage("Refusing %s: it is a qcow image of version %d; only qcow2 (versions 2 and 3) is "
                          "allowed." % (what, version), image_format="qcow")
    backing_offset, backing_size, cluster_bits = struct.unpack(">QII", head[8:24])
    if backing_offset or backing_size:
        name = _read_at(fd, backing_offset, min(backing_size, 1023)).decode("utf-8", "replace") \
            if backing_offset else ""
        raise UnsafeImage("Refusing %s: its qcow2 header shows a backing file (%s); an image with a backing file "
                          "could make QEMU read files of this host." % (what, name or "unnamed"), backing_file=name)
    header_length = 72
    if version == 3:
        incompatible = struct.unpack(">Q", head[72:80])[0]
        if incompatible & QCOW2_DATA_FILE_BIT:
            raise UnsafeImage("Refusing %s: it is a qcow2 with an external data file, which names a file of "
                              "this host." % what)
        header_length = struct.unpack(">I", head[100:104])[0]
    cluster = 1 << min(max(cluster_bits, 9), 21)
    area = head if cluster <= len(head) else _read_at(fd, 0, min(cluster, MAX_HEADER))
    offset = header_length
    while offset + 8 <= len(area):
        kind, length = struct.unpack(">II", area[offset:offset + 8])
        if kind == 0:
            break
        if kind == QCOW2_EXT_DATA_FILE:
            raise UnsafeImage("Refusing %s: its qcow2 header names an external data file." % what)
        offset += 8 + (length + 7) // 8 * 8
    return "qcow2"


def _vmdk_sparse(fd, head, what):
    capacity, _grain, desc_offset, desc_size = struct.unpack("<QQQQ", head[12:44])
    if capacity == 0:
        raise UnsafeImage("Refusing %s: its vmdk header defers to its descriptor, which names other files as "
                          "extents; only a monolithic sparse vmdk is allowed." % what, image_format="vmdk")
    if desc_offset:
        text = _read_at(fd, desc_offset * 512, min(desc_size * 512, MAX_HEADER)).split(b"\x00", 1)[0]
        text = text.decode("utf-8", "replace")
        kind = re.search(r'(?m)^\s*createType\s*=\s*"?([A-Za-z]+)"?', text)
        if kind and kind.group(1) not in VMDK_SPARSE_TYPES:
            raise UnsafeImage("Refusing %s: it is a vmdk of type %s; only a monolithic sparse vmdk is allowed."
                              % (what, kind.group(1)), image_format="vmdk")
        extents = re.findall(r"(?m)^\s*(RW|RDONLY|NOACCESS)\s", text)
        if len(extents) > 1:
            raise UnsafeImage("Refusing %s: its vmdk descriptor lists %d extents; only a monolithic sparse vmdk "
                              "(one extent, the file itself) is allowed." % (what, len(extents)), image_format="vmdk")
    return "vmdk"


def _looks_like_vmdk_descriptor(head):
    """A text vmdk descriptor, as qemu's vmdk prober would take it."""
    text = head[:2048]
    return b"DescriptorFile" in text or re.search(rb"(?m)^\s*createType\s*=", text) is not None or \
        re.search(rb"(?m)^\s*(RW|RDONLY|NOACCESS)\s+\d+\s+(FLAT|SPARSE|VMFS|VMFSSPARSE|ZERO)", text) is not None


def glance_format(disk_format):
    """qemu's name for a Glance disk_format (vhd -> vpc), or the name itself."""
    return GLANCE_NAMES.get(disk_format, disk_format)


def check_info(info, fmt, path, what="the image"):
    """What qemu-img info -f fmt saw must agree with what was read here: the format, no backing or
    data file, a vmdk's only extent the file itself."""
    if info.get("format") != fmt:
        raise UnsafeImage("Refusing %s: qemu-img reads it as %s, not %s." % (what, info.get("format"), fmt))
    backing = info.get("full-backing-filename") or info.get("backing-filename")
    if backing:
        raise UnsafeImage("Refusing %s: qemu-img info shows a backing file (%s); an image with a backing file could "
                          "make QEMU read files of this host." % (what, backing), backing_file=backing)
    specific = (info.get("format-specific") or {}).get("data") or {}
    if specific.get("data-file"):
        raise UnsafeImage("Refusing %s: it is a qcow2 with an external data file (%s)." % (
            what, specific["data-file"]), data_file=specific["data-file"])
    extents = specific.get("extents") or []
    others = [e.get("filename") for e in extents if os.path.normpath(e.get("filename") or "") != os.path.normpath(path)]
    if fmt == "vmdk" and (len(extents) > 1 or others):
        raise UnsafeImage("Refusing %s: its vmdk extents are other files (%s)." % (what, ", ".join(map(str, others))))
    return info

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which ``_base`` files some disk chain still uses, for the image cache cleanup.

Two sources, as Nova's image cache manager had (the instance directories it found on disk,
the instances it knew of), so that neither alone can hide a user:

- every regular file of every directory of the instances path (``<uuid>``, ``<uuid>_resize``
  of a resize awaiting confirm or revert, ``disk.rescue`` of a rescued instance, whatever a
  domain no longer names);
- every file disk of every libvirt domain, defined or running, in its live and its inactive
  XML, and the ``backingStore`` libvirt reports for it.

A chain is followed through the qcow2 headers, read in Python (qemu-img is never asked: a
disk holds what its guest wrote), up to MAX_DEPTH files.  A base is matched by its inode
(device and inode number), so that a chain reaching it by another path or hard link counts.

The instances path is untrusted (docs/security.md): nothing is reached through a symbolic
link (confined.Root), FIFOs and devices are never opened.  What cannot be read that way - a
link, a FIFO, a ``json:`` backing, a path with a link in it - makes the usage *unprovable*:
the cleanup then removes nothing and says why.  Something planted can only keep bases, never
get one removed.
"""

from __future__ import annotations

import os
import stat
import struct
import xml.etree.ElementTree as ET

from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root, describe_kind
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

QCOW2_MAGIC = b"QFI\xfb"
HEADER_BYTES = 72
MAX_BACKING_NAME = 1023        # qemu's own limit on a backing file name
MAX_DEPTH = 64                 # a longer chain is a loop or a plant


def qcow2_backing(fd):
    """The backing file name a qcow2 header at ``fd`` names, or None (no qcow2 or no backing)."""
    header = os.pread(fd, HEADER_BYTES, 0)
    if len(header) < 24 or header[:4] != QCOW2_MAGIC:
        return None
    offset, size = struct.unpack(">QI", header[8:20])
    if not offset or not size:
        return None
    if size > MAX_BACKING_NAME:
        raise Unreadable("its qcow2 header names a backing file of %d bytes" % size)
    name = os.pread(fd, size, offset)
    if len(name) != size:
        raise Unreadable("its qcow2 header names a backing file past its end")
    return name.decode("utf-8", "replace")


class Unreadable(Exception):
    """A chain element that cannot be read without following a link or opening a non-file."""


class Usage:
    """Base inodes -> who uses them; ``unprovable`` lists why some chain could not be read."""

    def __init__(self, base_inodes):
        self.base_inodes = base_inodes          # (st_dev, st_ino) -> base name
        self.users = {}                         # base name -> sorted users
        self.unprovable = []
        self._seen = set()

    def used_by(self, name):
        return sorted(self.users.get(name, ()))

    def add(self, name, user):
        self.users.setdefault(name, set()).add(user)

    def note(self, path, why):
        entry = "%s: %s" % (path, why)
        if entry not in self.unprovable:
            self.unprovable.append(entry)


def _open_any(path):
    """(descriptor, stat) of the regular file ``path`` reached without following a link (hard links are
    fine: only read, to keep things), or (None, None) when it is missing."""
    root = Root("/", "disk")
    rel = os.path.normpath(path).lstrip("/")
    try:
        if root.lstat(rel) is None:
            return None, None
        fd = root.open(rel, hard_links_ok=True)
    except NovaopsError as exc:
        raise Unreadable(str(exc).split(": ", 1)[-1]) from None
    return fd, os.fstat(fd)


def follow_chain(usage, path, user):
    """Mark the bases that the chain starting at ``path`` (a disk of ``user``) reaches."""
    for _depth in range(MAX_DEPTH):
        if not os.path.isabs(path):
            usage.note(path, "a backing file that is no absolute path")
            return
        path = os.path.normpath(path)
        try:
            fd, st = _open_any(path)
        except Unreadable as exc:
            usage.note(path, str(exc))
            return
        if fd is None:
            return
        try:
            key = (st.st_dev, st.st_ino)
            if key in usage.base_inodes:
                usage.add(usage.base_inodes[key], user)
            if key in usage._seen:        # pylint: disable=protected-access
                return                    # read already, from another disk
            usage._seen.add(key)          # pylint: disable=protected-access
            backing = qcow2_backing(fd)
        except (Unreadable, OSError) as exc:
            usage.note(path, str(exc))
            return
        finally:
            os.close(fd)
        if backing is None:
            return
        if ":" in backing.split("/", 1)[0]:
            usage.note(path, "its backing %r is a protocol or json: name, not a file" % backing[:80])
            return
        path = os.path.join(os.path.dirname(path), backing)
    usage.note(path, "a backing chain longer than %d files" % MAX_DEPTH)


def scan_instance_dirs(usage, root, base_dir):
    """Every regular file of every directory of the instances path (not ``_base``), as a chain start."""
    for entry in root.listdir():
        if entry == base_dir:
            continue
        st = root.lstat(entry)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            if not stat.S_ISREG(st.st_mode):
                usage.note(root.path_of(entry), "%s in the instances path" % describe_kind(st.st_mode))
            continue
        try:
            names = root.listdir(entry)
        except NovaopsError as exc:
            usage.note(root.path_of(entry), str(exc))
            continue
        for name in names:
            _scan_instance_file(usage, root, entry, name)


def _scan_instance_file(usage, root, entry, name):
    st = root.lstat((entry, name))
    if st is None or stat.S_ISDIR(st.st_mode):
        return
    path = root.path_of((entry, name))
    if not stat.S_ISREG(st.st_mode):
        usage.note(path, "%s in an instance directory" % describe_kind(st.st_mode))
        return
    follow_chain(usage, path, "%s/%s" % (entry, name))


def domain_disks(xml_text):
    """The file paths of a domain XML's disks and of the backingStore libvirt reports under them."""
    paths = []
    try:
        doc = ET.fromstring(xml_text)
    except ET.ParseError:
        return paths
    for disk in doc.findall("./devices/disk"):
        for source in disk.iter("source"):
            if source.get("file"):
                paths.append(source.get("file"))
    return paths


def scan_domains(usage, conn, inactive_flag):
    """Every file disk of every domain (its live and inactive XML) as a chain start."""
    for dom in conn.listAllDomains(0):
        xmls = [dom.XMLDesc(0)]
        if dom.isPersistent() and dom.isActive():
            xmls.append(dom.XMLDesc(inactive_flag))
        for xml_text in xmls:
            for path in domain_disks(xml_text):
                follow_chain(usage, path, "domain %s" % dom.name())

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Putting one file of an instance into the destination instance directory; the source is only read.

On this host a qcow2 overlay is flattened by ``qemu-img convert`` straight into
``<dest>.part`` and anything else copied sparsely, then renamed into place: a file under its
final name is whole.  To another host an overlay is first flattened into ``<name>.flat``
beside the original (Nova's ``_rbase``), then ``rsync --sparse`` sends it (rsync, too,
writes under a temporary name and renames when done); the flattened file is removed
whatever happens.  Both ends on this host are confined Roots (confined.py): the source file
is opened without following a link (and refused when it is hard-linked), ``.part`` and
``.flat`` are made with O_EXCL before qemu-img writes them.
"""

from __future__ import annotations

import os
import stat
import time

from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import DiskOpError, sparse_copy
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.resize_disks import FLATTEN

FLAT_SUFFIX = ".flat"
PART_SUFFIX = ".part"


def _suffixed(rel, suffix):
    return tuple(rel[:-1]) + (rel[-1] + suffix,)


class DiskTransfer:
    """Copies files into the destination: locally, or through an SshHost (``remote``)."""

    def __init__(self, qemu_img, remote=None, bwlimit=0):
        self.qemu_img = qemu_img
        self.remote = remote
        self.bwlimit = bwlimit

    def put(self, source, src_rel, dest, dest_rel, method):
        """The file src_rel of the Root source to dest_rel of dest (a Root on this host, or with ``remote``
        the destination's instances path), by method (flatten or copy); bytes and duration."""
        if self.remote is not None:
            return self._send(source, src_rel, os.path.join(dest, *dest_rel), method)
        return self._place(source, src_rel, dest, dest_rel, method)

    def _place(self, source, src_rel, dest, dest_rel, method):
        started = time.monotonic()
        part = _suffixed(dest_rel, PART_SUFFIX)
        try:
            if method == FLATTEN:
                target = dest.reserve(part, mode=0o600, replace=True)
                self.qemu_img.convert(source.tool_path(src_rel), target, "qcow2", src_fmt="qcow2")
                mode = source.lstat(src_rel).st_mode
            else:
                sfd = source.open(src_rel)
                try:
                    mode = os.fstat(sfd).st_mode
                    dfd = dest.create(part, mode=0o600, replace=True)
                    try:
                        sparse_copy(sfd, dfd, names=(source.path_of(src_rel), dest.path_of(part)))
                    finally:
                        os.close(dfd)
                finally:
                    os.close(sfd)
            dest.chmod(part, stat.S_IMODE(mode))
            dest.rename(part, dest_rel)
        except OSError as exc:
            raise DiskOpError("Putting %s into place as %s failed: %s" % (
                source.path_of(src_rel), dest.path_of(dest_rel), exc.strerror or exc))
        finally:
            dest.unlink(part)
        return dict(bytes=dest.lstat(dest_rel).st_size, method=method, duration=round(time.monotonic() - started, 3))

    def _send(self, source, src_rel, dest_path, method):
        started = time.monotonic()
        flat = _suffixed(src_rel, FLAT_SUFFIX) if method == FLATTEN else None
        try:
            if flat:       # the source's mode, as qemu-img would have made it (rsync keeps it over there)
                target = source.reserve(flat, mode=stat.S_IMODE(source.lstat(src_rel).st_mode), replace=True)
                self.qemu_img.convert(source.tool_path(src_rel), target, "qcow2", src_fmt="qcow2")
            sent = self.remote.rsync_file(source.tool_path(flat or src_rel), dest_path, self.bwlimit)
        finally:
            if flat:
                source.unlink(flat)
        return dict(bytes=sent["bytes"], method=method, duration=round(time.monotonic() - started, 3))


def remove_scratch(root, directory):
    """Remove flattened files a killed run left beside the originals (in the directory ``directory`` of
    the Root); returns their names."""
    names = [n for n in root.listdir(directory) if n.endswith(FLAT_SUFFIX)]
    for name in names:
        root.unlink((directory, name))
    return names

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
whatever happens.
"""

from __future__ import annotations

import os
import stat
import time

from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import DiskOpError, sparse_copy
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.resize_disks import FLATTEN

FLAT_SUFFIX = ".flat"
PART_SUFFIX = ".part"


class DiskTransfer:
    """Copies files into the destination: locally, or through an SshHost (``remote``)."""

    def __init__(self, qemu_img, remote=None, bwlimit=0):
        self.qemu_img = qemu_img
        self.remote = remote
        self.bwlimit = bwlimit

    def put(self, src, dest, method):
        """src to dest (a path on the destination host) by method (flatten or copy); bytes and duration."""
        if self.remote is not None:
            return self._send(src, dest, method)
        return self._place(src, dest, method)

    def _place(self, src, dest, method):
        started = time.monotonic()
        part = dest + PART_SUFFIX
        try:
            if method == FLATTEN:
                self.qemu_img.convert(src, part, "qcow2", src_fmt="qcow2")
            else:
                sparse_copy(src, part)
            os.chmod(part, stat.S_IMODE(os.stat(src).st_mode))
            os.rename(part, dest)
        except OSError as exc:
            raise DiskOpError("Putting %s into place as %s failed: %s" % (src, dest, exc.strerror or exc))
        finally:
            if os.path.exists(part):
                os.unlink(part)
        return dict(bytes=os.stat(dest).st_size, method=method, duration=round(time.monotonic() - started, 3))

    def _send(self, src, dest, method):
        started = time.monotonic()
        flat = src + FLAT_SUFFIX if method == FLATTEN else None
        try:
            if flat:
                self.qemu_img.convert(src, flat, "qcow2", src_fmt="qcow2")
            sent = self.remote.rsync_file(flat or src, dest, self.bwlimit)
        finally:
            if flat and os.path.exists(flat):
                os.unlink(flat)
        return dict(bytes=sent["bytes"], method=method, duration=round(time.monotonic() - started, 3))


def remove_scratch(directory):
    """Remove flattened files a killed run left beside the originals; returns their names."""
    names = sorted(n for n in os.listdir(directory) if n.endswith(FLAT_SUFFIX))
    for name in names:
        os.unlink(os.path.join(directory, name))
    return names

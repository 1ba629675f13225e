# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The instance directory, laid out as Nova's libvirt driver did.

``<instances_path>/<uuid>/`` holds ``disk`` (qcow2 overlay on ``_base/<sha1(image)>``),
``disk.local`` (ephemeral), ``disk.swap``, ``disk.rescue`` while rescued, ``libvirt.xml``
(the last defined XML, which also carries the desired state when the domain itself is
gone) and ``unrescue.xml`` while rescued.  Every path handed out stays inside the
directory: names with ``/`` or ``..`` are refused, and every file is reached through a
confined Root of the instances path (confined.py): a symbolic link (dangling or not), FIFO or
hard-linked file planted at a name, or at the instance directory itself, is refused, never
followed.
"""

from __future__ import annotations


from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid

ROOT = "disk"
LOCAL = "disk.local"
SWAP = "disk.swap"
RESCUE = "disk.rescue"
LIBVIRT_XML = "libvirt.xml"
UNRESCUE_XML = "unrescue.xml"
RESIZE_SUFFIX = "_resize"     # <uuid>_resize: the original, kept until a resize is confirmed or reverted


def check_name(name, where):
    """A plain file name: no '/', no '..', printable, at most 255 bytes."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise NovaopsError("The disk name %r would leave the instance directory %s; use a plain file name."
                           % (name, where))
    if len(name.encode("utf-8")) > 255 or name != name.strip() or not name.isprintable():
        raise NovaopsError("The disk name %r is not a plain file name: at most 255 bytes, no control "
                           "characters, no white space around it." % name[:60])
    return name


class InstanceDir:
    def __init__(self, instances_path, instance_uuid, label="instances_path"):
        self.root = Root(instances_path, label)
        self.instances_path = self.root.path
        self.uuid = check_uuid(instance_uuid)
        self.path = self.root.path_of(self.uuid)
        if self.root.lstat() is not None and not self.root.isdir():
            raise NovaopsError("%s %s exists and is not a directory." % (label, self.instances_path))

    def rel(self, name, directory=None):
        return (directory or self.uuid, check_name(name, self.path))

    def file(self, name):
        """The path of a file of the instance, for libvirt and tools; refused when a link or other
        non-plain file is there (a missing one is fine: it may be made)."""
        return self.root.tool_path(self.rel(name), missing_ok=True)

    @property
    def resize_name(self):
        return self.uuid + RESIZE_SUFFIX

    @property
    def resize_path(self):
        """Where Nova kept the original instance directory while a resize awaited confirm or revert."""
        return self.root.path_of(self.resize_name)

    @property
    def exists(self):
        return self.root.isdir(self.uuid)

    def has(self, name):
        """Whether the instance has the file (a link or FIFO there is refused)."""
        return self.root.isfile(self.rel(name))

    def read(self, name):
        return self.root.read_text(self.rel(name))

    def write(self, name, text):
        self.root.write_atomic(self.rel(name), text, mode=0o644, fsync=False)

    def remove(self, name):
        self.root.unlink(self.rel(name))

    def reserve(self, name, replace=False):
        """A new empty file of the instance (O_EXCL, no link followed) for a tool to write; its path."""
        return self.root.reserve(self.rel(name), replace=replace)

    def create(self):
        self.root.mkdir(self.uuid, mode=0o755, parents=True)

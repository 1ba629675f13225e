# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The instance directory, laid out as Nova's libvirt driver did.

``<instances_path>/<uuid>/`` holds ``disk`` (qcow2 overlay on ``_base/<sha1(image)>``),
``disk.local`` (ephemeral), ``disk.swap``, ``disk.rescue`` while rescued, ``libvirt.xml``
(the last defined XML, which also carries the desired state when the domain itself is
gone) and ``unrescue.xml`` while rescued.  Every path handed out stays inside the
directory: names with ``/`` or ``..`` are refused.
"""

from __future__ import annotations

import os

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid

ROOT = "disk"
LOCAL = "disk.local"
SWAP = "disk.swap"
RESCUE = "disk.rescue"
LIBVIRT_XML = "libvirt.xml"
UNRESCUE_XML = "unrescue.xml"
RESIZE_SUFFIX = "_resize"     # <uuid>_resize: the original, kept until a resize is confirmed or reverted


class InstanceDir:
    def __init__(self, instances_path, instance_uuid):
        if not os.path.isabs(instances_path):
            raise NovaopsError("instances_path %r is not absolute." % instances_path)
        if os.path.exists(instances_path) and not os.path.isdir(instances_path):
            raise NovaopsError("instances_path %s exists and is not a directory." % instances_path)
        self.instances_path = os.path.normpath(instances_path)
        self.uuid = check_uuid(instance_uuid)
        self.path = os.path.join(self.instances_path, self.uuid)

    def file(self, name):
        """The path of a file of the instance; a name that would leave the directory is refused."""
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise NovaopsError("The disk name %r would leave the instance directory %s; use a plain file name."
                               % (name, self.path))
        if len(name.encode("utf-8")) > 255 or name != name.strip() or not name.isprintable():
            raise NovaopsError("The disk name %r is not a plain file name: at most 255 bytes, no control "
                               "characters, no white space around it." % name[:60])
        path = os.path.join(self.path, name)
        real_dir = os.path.realpath(self.path)
        if os.path.exists(path) and os.path.dirname(os.path.realpath(path)) != real_dir:
            raise NovaopsError("%s is a link out of the instance directory %s; refusing it." % (path, self.path))
        return path

    @property
    def resize_path(self):
        """Where Nova kept the original instance directory while a resize awaited confirm or revert."""
        return self.path + RESIZE_SUFFIX

    @property
    def exists(self):
        return os.path.isdir(self.path)

    def has(self, name):
        return os.path.exists(self.file(name))

    def read(self, name):
        path = self.file(name)
        if not os.path.isfile(path):
            return None
        with open(path) as handle:
            return handle.read()

    def write(self, name, text):
        path = self.file(name)
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(text)
        os.rename(tmp, path)

    def remove(self, name):
        path = self.file(name)
        if os.path.exists(path):
            os.unlink(path)

    def create(self):
        os.makedirs(self.path, mode=0o755, exist_ok=True)

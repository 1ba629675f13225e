# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The base files of ``disk.local`` and ``disk.swap``, as Nova's libvirt driver made them.

Both disks are qcow2 overlays in the instance directory on a base in ``_base`` that is
made on the host rather than fetched:

- ``ephemeral_<GiB>_<hash>``: a sparse raw file of the flavor's ephemeral size with a
  filesystem labelled ``ephemeral0`` (Nova's ``_create_ephemeral``; ``<hash>`` is the first
  7 hex digits of the md5 of the filesystem type, as Nova named these files);
- ``swap_<MiB>``: a sparse raw file with a swap signature (``mkswap``).

They are published through the image cache (``ImageCache.ensure_built``): made once under
the base's lock, renamed into place only when complete, so a failed mkfs leaves nothing.
A base deleted from ``_base`` is made again from its name alone (``ensure_by_name``), which
is what the hard-reboot repair needs - and unlike Nova's, byte for byte the same file: the
overlays keep only what the guest wrote, so a base made again with a new filesystem UUID,
hash seed or timestamps (mkfs's random defaults) would mix two filesystems under the
guest.  The UUID and hash seed are derived from the base's name and the time is fixed
(``E2FSPROGS_FAKE_TIME``); ext2/3/4 and mkswap are reproducible that way.
"""

from __future__ import annotations

import hashlib
import re
import uuid

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import BASE_DIR

FILESYSTEMS = ("ext4", "ext3", "ext2")
DEFAULT_FILESYSTEM = "ext4"      # Nova's default_ephemeral_format for Linux guests
EPHEMERAL_LABEL = "ephemeral0"
GiB = 1024 ** 3
MiB = 1024 ** 2
UUID_NAMESPACE = uuid.UUID("0a5c3e1e-57d4-5b6f-8c2a-7f0e1d9b4c31")
FIXED_TIME = "1"    # seconds since the epoch, for every timestamp mke2fs writes


def fs_hash(fs):
    return hashlib.md5(fs.encode("utf-8")).hexdigest()[:7]


def ephemeral_base_name(size_gb, fs):
    return "ephemeral_%d_%s" % (int(size_gb), fs_hash(fs))


def swap_base_name(size_mb):
    return "swap_%d" % int(size_mb)


def parse_base_name(name):
    """('ephemeral', bytes, fs) or ('swap', bytes, None) for a name this module makes, else None."""
    match = re.match(r"^ephemeral_(\d+)_([0-9a-f]{7})$", name)
    if match:
        fs = next((f for f in FILESYSTEMS if fs_hash(f) == match.group(2)), None)
        return ("ephemeral", int(match.group(1)) * GiB, fs) if fs else None
    match = re.match(r"^swap_(\d+)$", name)
    if match:
        return "swap", int(match.group(1)) * MiB, None
    return None


def base_uuid(name):
    """The filesystem (or swap) UUID of a base: the same every time the base is made."""
    return str(uuid.uuid5(UUID_NAMESPACE, name))


def mkfs_argv(fs, path, name, label=EPHEMERAL_LABEL):
    """The command that formats a base reproducibly (with FIXED_TIME in E2FSPROGS_FAKE_TIME)."""
    if fs is None:
        return ["mkswap", "-U", base_uuid(name), path]
    if fs not in FILESYSTEMS:
        raise NovaopsError("Unknown ephemeral filesystem %r; use one of %s." % (fs, ", ".join(FILESYSTEMS)))
    return ["mkfs.%s" % fs, "-q", "-F", "-L", label, "-U", base_uuid(name), "-E", "hash_seed=%s" % base_uuid(name),
            path]


class LocalBases:
    """Makes ephemeral and swap bases in an ImageCache's ``_base`` with the host's mkfs tools."""

    def __init__(self, cache, run_command, find_command):
        self.cache = cache
        self._run_command = run_command
        self._find = find_command      # name -> path or None (AnsibleModule.get_bin_path)

    def ephemeral(self, size_gb, fs):
        """(path, made) of the ephemeral base of that size and filesystem."""
        return self._ensure(ephemeral_base_name(size_gb, fs), int(size_gb) * GiB, fs)

    def swap(self, size_mb):
        return self._ensure(swap_base_name(size_mb), int(size_mb) * MiB, None)

    def path_of(self, name):
        return self.cache.root.path_of((BASE_DIR, name))

    def ensure_by_name(self, name):
        """Make a missing base again from its file name; None when the name is not one of ours."""
        parsed = parse_base_name(name)
        if parsed is None:
            return None
        _kind, size, fs = parsed
        return self._ensure(name, size, fs)

    def _ensure(self, name, size, fs):
        argv = mkfs_argv(fs, "<part>", name)
        tool = self._find(argv[0])
        if tool is None:
            raise NovaopsError("%s is not installed on this host; it makes the %s base %s." % (
                argv[0], "ephemeral" if fs else "swap", name))

        def build(out, part):
            out.truncate(size)
            out.flush()
            path = self.cache.root.tool_path(part)
            cmd = [tool] + [path if a == "<part>" else a for a in argv[1:]]
            rc, out, err = self._run_command(cmd, environ_update={"E2FSPROGS_FAKE_TIME": FIXED_TIME})
            if rc != 0:
                raise NovaopsError("%s failed (rc=%s): %s" % (argv[0], rc, (err or out or "").strip()),
                                   command=cmd)

        return self.cache.ensure_built(name, build)

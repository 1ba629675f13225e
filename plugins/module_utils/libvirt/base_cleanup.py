# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Nova's image cache manager for ``<instances_path>/_base``: what may go, what stays and why.

Only names this collection's cache makes are candidates: an image base ``sha1`` (40 hex
digits), ``ephemeral_<gb>_<fs hash>``, ``swap_<mb>``, and the ``.part`` / ``.converting`` /
``.lock`` a fetch leaves when it was killed.  Anything else there - other names, links, FIFOs,
directories, hard-linked files - is the operator's and is kept, with the reason.

A base goes when no disk chain uses it (base_usage.py) and its modification time (touched by
every new overlay made on it, as Nova's ``update_mtime``) is older than the minimum age.  Each
removal happens under the base's own fetch lock (image_cache.FileLock), after the usage was read
again under it: a boot making an overlay on the base holds the same lock, so the overlay either
exists before the check or finds the base gone and fetches it again.  A leftover whose lock a
running fetch holds is being written, and stays.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.confined import describe_kind
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.base_usage import (
    Usage, scan_domains, scan_instance_dirs)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.ephemeral import parse_base_name
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.image_cache import BASE_DIR, FileLock

LEFTOVER_SUFFIXES = (".part", ".converting", ".lock")
SHA1_NAME = re.compile(r"^[0-9a-f]{40}$")


def is_cache_name(name):
    return bool(SHA1_NAME.match(name)) or parse_base_name(name) is not None


def split_leftover(name):
    """(base name, suffix) of a fetch's leftover, else (name, None)."""
    for suffix in LEFTOVER_SUFFIXES:
        if name.endswith(suffix):
            return name[:-len(suffix)], suffix
    return name, None


class BaseCleanup:
    """The verdicts on one instances path's ``_base``; ``conn`` a libvirt connection (or None)."""

    def __init__(self, root, conn, inactive_flag, min_age_hours, now=None):
        self.root = root
        self.conn = conn
        self.inactive_flag = inactive_flag
        self.min_age = min_age_hours
        self.now = now if now is not None else time.time()
        self.kept = []
        self.removable = []
        self.unprovable = []

    # -- reading ------------------------------------------------------------------------------
    def entries(self):
        """(name, lstat) of every entry of _base."""
        return [(name, self.root.lstat((BASE_DIR, name))) for name in self.root.listdir(BASE_DIR)]

    def usage(self, entries):
        inodes = dict(((st.st_dev, st.st_ino), name) for name, st in entries
                      if st is not None and stat.S_ISREG(st.st_mode))
        usage = Usage(inodes)
        scan_instance_dirs(usage, self.root, BASE_DIR)
        if self.conn is not None:
            scan_domains(usage, self.conn, self.inactive_flag)
        return usage

    def read(self):
        if not self.root.isdir():
            raise NovaopsError("instances_path %s does not exist or is not a directory." % self.root.path)
        if not self.root.isdir(BASE_DIR):
            # not an instances path (or no image was ever fetched there): nothing of it is scanned
            raise NovaopsError("instances_path %s holds no %s directory: it is not an instances path this "
                               "collection or Nova booted from an image; give the one libvirt_domain uses."
                               % (self.root.path, BASE_DIR))
        entries = self.entries()
        usage = self.usage(entries)
        self.unprovable = usage.unprovable
        self.kept, self.removable = [], []
        for name, st in entries:
            if st is None:
                continue
            entry = dict(name=name, path=self.root.path_of((BASE_DIR, name)), size=st.st_size,
                         age_hours=round(max(0.0, self.now - st.st_mtime) / 3600.0, 3))
            why = self.verdict(name, st, usage)
            if why:
                self.kept.append(dict(entry, reason=why))
            else:
                self.removable.append(entry)
        return sorted(name for name, st in entries if st is not None)

    def verdict(self, name, st, usage, locked=False):
        """None when the entry may go, else why it stays; ``locked``: this run holds the base's lock."""
        stem, suffix = split_leftover(name)
        if not is_cache_name(stem):
            return "not a name the image cache makes: left to the operator"
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            kind = describe_kind(st.st_mode) if not stat.S_ISREG(st.st_mode) else "a file with %d hard links" % \
                st.st_nlink
            return "%s, not a file the image cache made: left to the operator" % kind
        users = usage.used_by(name)
        if users:
            return "used by %s" % ", ".join(users)
        if suffix is not None and not locked and self.fetch_running(stem):
            return "being written by a running fetch (its lock is held)"
        if usage.unprovable:
            return "some disk chain could not be read safely, so no base can be proven unused: %s" % \
                "; ".join(usage.unprovable[:3])
        age = max(0.0, self.now - st.st_mtime) / 3600.0
        if age < self.min_age:
            return "last used or made %.2f h ago, younger than min_age_hours %s" % (age, self.min_age)
        return None

    def fetch_running(self, stem):
        """Whether a fetch of ``stem`` holds its lock now (probed without creating the lock file)."""
        rel = (BASE_DIR, stem + ".lock")
        st = self.root.lstat(rel)
        if st is None or not stat.S_ISREG(st.st_mode):
            return False
        fd = self.root.open(rel, os.O_RDONLY, hard_links_ok=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    # -- removing -----------------------------------------------------------------------------
    def remove(self, entry, lock_timeout):
        """Remove one entry under its base's lock, after reading its usage and age again; False when it
        had to stay after all (used meanwhile, touched, replaced)."""
        stem, suffix = split_leftover(entry["name"])
        rel = (BASE_DIR, entry["name"])
        seen = self.root.lstat(rel)
        if seen is None:
            return False
        if suffix == ".lock":
            return self._remove_stale_lock(rel, seen)
        try:
            with FileLock(self.root, (BASE_DIR, stem + ".lock"), lock_timeout):
                now = self.root.lstat(rel)
                if now is None or not os.path.samestat(now, seen) or now.st_mtime != seen.st_mtime:
                    return False
                if self.verdict(entry["name"], now, self.usage(self.entries()), locked=True):
                    return False
                self.root.unlink(rel)
        except WaitTimeout:
            return False
        return True

    def _remove_stale_lock(self, rel, seen):
        """A lock file nobody holds: taken (so no fetch starts meanwhile) and removed."""
        fd = self.root.open(rel, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
            now = self.root.lstat(rel)
            if now is None or not os.path.samestat(now, seen):
                return False
            self.root.unlink(rel)
            return True
        finally:
            os.close(fd)

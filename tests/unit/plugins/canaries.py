# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Canary files outside a confinement root, and what a test plants inside it to reach them (#18).

A canary is a file with known bytes and mode 0600.  It is watched with inotify (through libc),
so a test sees not only that it is still present and unchanged, but also that nothing opened
it: IN_OPEN fires for any open of its inode, through a symbolic link or a hard link too, by this
process or by a tool it ran (qemu-img).  ``plant(kind, path, canary)`` puts at ``path`` what an
attacker would: a symbolic link to the canary, a dangling one (to a path beside the canary that
must never come to exist), a hard link to it, or a FIFO.

Shared by the unit tests and the bad-input corpus (tests/integration/targets/bad_input_corpus).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import stat
import struct

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_OPEN = 0x1, 0x2, 0x4, 0x20
IN_DELETE_SELF, IN_MOVE_SELF = 0x400, 0x800
WATCHED = IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_OPEN | IN_DELETE_SELF | IN_MOVE_SELF
NAMES = ((IN_OPEN, "opened"), (IN_ACCESS, "read"), (IN_MODIFY, "written"), (IN_ATTRIB, "chmod/chown"),
         (IN_DELETE_SELF, "deleted"), (IN_MOVE_SELF, "moved"))
KINDS = ("symlink", "dangling", "hardlink", "fifo")
_EVENT = struct.Struct("iIII")


class Canaries(contextlib.AbstractContextManager):
    """Canary files in ``directory`` (outside every root under test), watched from creation on."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._inotify = os.fdopen(fd, "rb", buffering=0)     # closed once, however often close() is called
        self.files = {}       # path -> (sha256, mode)
        self._wd = {}         # watch descriptor -> path
        self.seen = {}        # path -> set of event names

    def close(self):
        self._inotify.close()

    def __exit__(self, *exc):
        self.close()

    def make(self, name, data=None):
        """A new canary: its path.  Its bytes say what it is, so that a copy of it is recognisable."""
        path = os.path.join(self.directory, name)
        data = data if data is not None else ("canary %s - must stay unread\n" % name).encode() * 64
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o600)
        self.files[path] = (hashlib.sha256(data).hexdigest(), 0o600)
        wd = self._libc.inotify_add_watch(self._inotify.fileno(), path.encode(), WATCHED)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch %s failed" % path)
        self._wd[wd] = path
        self.seen[path] = set()
        return path

    def dangling_target(self, name):
        """A path beside the canaries that nothing may ever create (a dangling link's target)."""
        path = os.path.join(self.directory, name + ".never")
        self.files[path] = (None, None)
        return path

    def _drain(self):
        while True:
            try:
                data = os.read(self._inotify.fileno(), 65536)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size + length
                path = self._wd.get(wd)
                if path is None:
                    continue
                for bit, name in NAMES:
                    if mask & bit:
                        self.seen[path].add(name)

    def reset(self):
        """Forget the events so far (e.g. those of setting up a plant)."""
        self._drain()
        for path in self.seen:
            self.seen[path] = set()

    def problems(self):
        """Sentences for each canary that is gone, changed, re-moded or was touched at all, and each
        dangling target that came to exist; [] when all is well."""
        self._drain()
        found = []
        for path, (digest, mode) in sorted(list(self.files.items())):
            if digest is None:
                if os.path.lexists(path):
                    found.append("%s was created through a dangling link" % path)
                    del self.files[path]          # told once: a later case is judged on its own
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                found.append("%s is gone" % path)
                continue
            with open(path, "rb") as handle:      # after _drain: this read is not counted
                now = hashlib.sha256(handle.read()).hexdigest()
            if now != digest:
                found.append("%s was overwritten" % path)
            if stat.S_IMODE(st.st_mode) != mode:
                found.append("%s has mode %o, not %o" % (path, stat.S_IMODE(st.st_mode), mode))
            if self.seen.get(path):
                found.append("%s was %s" % (path, "/".join(sorted(self.seen[path]))))
        self._drain()
        for path in self.seen:       # our own read above
            self.seen[path].discard("opened")
            self.seen[path].discard("read")
        return found


def plant(kind, path, canary, canaries=None):
    """Put at ``path`` what an attacker would, aimed at ``canary``; returns what it aims at."""
    if kind == "symlink":
        os.symlink(canary, path)
        return canary
    if kind == "dangling":
        target = canaries.dangling_target(os.path.basename(path)) if canaries else canary + ".never"
        os.symlink(target, path)
        return target
    if kind == "hardlink":
        os.link(canary, path)
        return canary
    if kind == "fifo":
        os.mkfifo(path, 0o600)
        return path
    raise ValueError(kind)

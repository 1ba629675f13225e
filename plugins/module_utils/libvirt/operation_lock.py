# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The operation lock of a libvirt instance: a locked file in its instance directory, and a
``<task/>`` element in its domain's metadata.

The lock file is the real lock between processes on the hypervisor: an exclusive flock(2),
which the kernel drops when its process dies, so a lock file that nobody holds is a killed
run's.  The file exists exactly while a run works (fleet repair looks for it over ssh), holds
the run's mark as JSON, and is removed at the end.  A resize moves the instance directory to
``<uuid>_resize`` and back: the open file moves with the directory, the lock with it, and
both places are looked at.  The metadata element (live and persistent definition) marks a
domain that has no instance directory (libvirt cannot test-and-set it, so there the mark is
advisory only); where the lock file is, the metadata is not written - readers (fleet repair)
look for the lock file - so a run pays for its lock in no round trip to libvirtd.  A stale
metadata mark (of a run before this rule, or without a directory) is still found and cleared.
The admission reads the marks in the domain XML the module has just read (``xml=``).
"""

from __future__ import annotations

import fcntl
import os

from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.instance_dir import RESIZE_SUFFIX
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import LibvirtError, is_libvirt_error
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import (
    LIBVIRT_NAMESPACE, LIBVIRT_PREFIX, InstanceBusy, OperationLock, from_domain_xml, from_lock_file, judged,
    lock_file_path, metadata_xml, to_json)

METADATA_ELEMENT = 2            # VIR_DOMAIN_METADATA_ELEMENT
AFFECT_LIVE, AFFECT_CONFIG = 1, 2
XML_INACTIVE = 2
RECONNECT_TIMEOUT = 60          # how long a restarted libvirtd gets to answer before the mark is removed
ATTEMPTS = 5                    # a lock file removed by its holder between our open and flock: open it again


def _read(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks).decode("utf-8", "replace")
        chunks.append(chunk)


def _at(path):
    """(Root of the directory, name) of a lock file: reached without following a link anywhere."""
    return Root(os.path.dirname(path), "the instance directory"), os.path.basename(path)


def probe(path):
    """``(held, text)`` of a lock file, or None when there is none.  Writes nothing."""
    root, name = _at(path)
    if root.lstat(name) is None:
        return None
    try:
        fd = root.open(name)
    except NovaopsError:
        if root.lstat(name) is None:
            return None       # its holder removed it meanwhile
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            held = False
        except BlockingIOError:
            held = True
        return held, _read(fd)
    finally:
        os.close(fd)


def nova_instance_dir(disk_path, uuid):
    """The instance directory of a domain laid out as Nova did (``<instances_path>/<uuid>/disk``), else None."""
    directory = os.path.dirname(os.path.normpath(disk_path or "")) if disk_path else None
    return directory if directory and os.path.basename(directory) == uuid else None


class LibvirtOperationLock(OperationLock):
    """The lock file(s) of an instance directory plus the metadata element of the domain with ``uuid``."""

    def __init__(self, conn, label, operation, params, instance_dir=None, uuid=None, takeover=False, xml=None):
        super().__init__(label, operation, params, takeover)
        self.conn = conn
        self.instance_dir = instance_dir
        self.uuid = uuid
        self._fds = []
        self._marked = False
        self._xml = xml         # (live XML or None, inactive XML) the module has just read

    def _dirs(self):
        if not self.instance_dir:
            return []
        # a link in the place of either is refused (confined.Root), never followed
        return [d for d in (self.instance_dir, self.instance_dir + RESIZE_SUFFIX)
                if Root(os.path.dirname(d), "the instances path").isdir(os.path.basename(d))]

    def _domain(self):
        return self.conn.lookup(uuid=self.uuid) if self.uuid else None

    def marks(self):
        found = []
        for directory in self._dirs():
            seen = probe(lock_file_path(directory))
            if seen is not None:
                found.append((from_lock_file(True, seen[1]), seen[0]))
        task = self._metadata_mark()
        if task is not None:
            found.append((task, None))
        return found

    def _metadata_mark(self):
        xml, self._xml = self._xml, None
        if xml is not None:
            return next((t for t in (from_domain_xml(x) for x in xml if x) if t is not None), None)
        dom = self._domain()
        if dom is None:
            return None
        return _libvirt(lambda: from_domain_xml(dom.XMLDesc(0)) or
                        (from_domain_xml(dom.XMLDesc(XML_INACTIVE)) if dom.isActive() else None))

    def take(self, mark, stale):
        self._xml = None
        try:
            self._lock_files(mark, bool(stale))
            if stale and any(t.get("source") == "metadata" for t in stale):
                self._clear_metadata()
            self._set_metadata(mark)
        except BaseException:
            self.release()
            raise

    def _lock_files(self, mark, stale_ok):
        for directory in self._dirs():
            path = lock_file_path(directory)
            if not self._ours(path):
                self._fds.append(self._lock_file(path, mark, stale_ok))

    def _ours(self, path):
        root, name = _at(path)
        seen = root.lstat(name)
        return seen is not None and any(os.path.samestat(os.fstat(fd), seen) for fd in self._fds)

    def _lock_file(self, path, mark, stale_ok):
        root, name = _at(path)
        for _attempt in range(ATTEMPTS):
            fd = root.open(name, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                text = _read(fd)
                os.close(fd)
                raise InstanceBusy(self.label, judged(from_lock_file(True, text), True))
            seen = root.lstat(name)
            if seen is None or not os.path.samestat(os.fstat(fd), seen):
                os.close(fd)       # its holder removed it as we opened it: the next one is the lock
                continue
            text = _read(fd)
            if text.strip() and not stale_ok:
                os.close(fd)       # a run killed since the instance was looked at
                raise InstanceBusy(self.label, judged(from_lock_file(True, text), False, self.stale_after))
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, to_json(mark).encode("utf-8"))      # no fsync: a crash drops the flock anyway
            return fd
        raise NovaopsError("The lock file %s was replaced %d times while this run tried to lock it." % (path, ATTEMPTS))

    def _set_metadata(self, mark):
        if self._fds:
            return          # the lock file marks it (and is the lock)
        dom = self._domain()
        if dom is not None:
            _libvirt(lambda: dom.setMetadata(METADATA_ELEMENT, metadata_xml(mark), LIBVIRT_PREFIX,
                                             LIBVIRT_NAMESPACE, _flags(dom)))
            self._marked = True

    def refresh(self):
        """Lock and mark what the run has made since it took the lock: a new instance directory, a domain
        (re)defined from an XML without this run's mark."""
        if self.holding:
            self._lock_files(self.mark, False)
            self._set_metadata(self.mark)

    def release(self):
        for fd in self._fds:
            try:
                root, name = _at(os.readlink("/proc/self/fd/%d" % fd))    # where the directory is now
                seen = root.lstat(name)
                if seen is not None and os.path.samestat(os.fstat(fd), seen):
                    root.unlink(name)
            except (OSError, NovaopsError):
                pass     # removed with its directory (undefined with its disks, a confirmed resize)
            finally:
                os.close(fd)
        self._fds = []
        if self._marked and self.uuid and _lost(self.conn.conn):
            # libvirtd restarted while the run worked: the mark must not outlive the run
            self.conn.reconnect(RECONNECT_TIMEOUT)
        if self._marked:                                   # a refused run leaves the other's mark alone
            self._marked = False
            self._clear_metadata()

    def _clear_metadata(self):
        dom = self._domain()
        if dom is not None:
            _libvirt(lambda: _unmark(dom))


def _lost(virconnect):
    try:
        return not virconnect.isAlive()
    except Exception as exc:  # pylint: disable=broad-except
        if not is_libvirt_error(exc):
            raise
        return True


def _unmark(dom):
    """Remove the task element; whatever one is there is this run's (it holds the lock) or one it replaced."""
    if from_domain_xml(dom.XMLDesc(0)) is None and from_domain_xml(dom.XMLDesc(XML_INACTIVE)) is None:
        return
    dom.setMetadata(METADATA_ELEMENT, None, None, LIBVIRT_NAMESPACE, _flags(dom))


def _flags(dom):
    return (AFFECT_CONFIG if dom.isPersistent() else 0) | (AFFECT_LIVE if dom.isActive() else 0)


def _libvirt(call):
    try:
        return call()
    except Exception as exc:  # pylint: disable=broad-except
        if is_libvirt_error(exc):
            raise LibvirtError.from_exception(exc, "The operation lock's metadata") from exc
        raise

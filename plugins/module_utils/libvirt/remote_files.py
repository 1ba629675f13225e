# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Files on another libvirt host, reached through its own connection: libvirt's storage API.

A directory is a transient 'dir' storage pool (built - made - when it is missing), a file a volume
in it: looked for, created empty (a qcow2 overlay on a backing file, made by the destination's own
qemu-img), filled from a local file over a libvirt stream, deleted. So a block migration's
destination is prepared, and cleaned after a failure, with nothing but the libvirt connection the
migration uses anyway. A Changes records what was made, to undo it in reverse.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid as uuidlib
from xml.sax.saxutils import escape

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

try:
    import libvirt
except ImportError:
    pass        # connection.py reports the missing binding

CHUNK = 4 * 1024 * 1024


def _pool_path(pool):
    desc = pool.XMLDesc(0)
    start = desc.find("<path>")
    return os.path.normpath(desc[start + 6:desc.find("</path>", start)]) if start >= 0 else None


class Directory(contextlib.AbstractContextManager):
    """A directory on the host of ``conn``; a context manager that ends the transient pool it made."""

    def __init__(self, conn, path, build=False):
        self.conn = conn
        self.path = os.path.normpath(path)
        self.built = False
        self.pool = None
        self._ours = False
        for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            if _pool_path(pool) == self.path:
                self.pool = pool        # the host's own pool of that directory: used, never ended
                break
        if self.pool is None:
            xml = ("<pool type='dir'><name>novaops-%s</name><target><path>%s</path>"
                   "<permissions><mode>0755</mode></permissions></target></pool>" % (uuidlib.uuid4().hex[:12],
                                                                                     escape(self.path)))
            try:
                self.pool = conn.storagePoolCreateXML(xml, 0)
            except libvirt.libvirtError:
                if not build:
                    raise
                self.pool = conn.storagePoolCreateXML(xml, libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
                self.built = True
            self._ours = True
        self.pool.refresh(0)

    def volume(self, name):
        try:
            return self.pool.storageVolLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            raise

    def create(self, name, capacity, fmt, backing=None, backing_format=None):
        """An empty volume; with ``backing`` a qcow2 overlay on it (created by the host's qemu-img)."""
        xml = ("<volume><name>%s</name><capacity unit='bytes'>%d</capacity><target><format type='%s'/>"
               "<permissions><mode>0644</mode></permissions></target>" % (escape(name), capacity, escape(fmt)))
        if backing:
            xml += "<backingStore><path>%s</path><format type='%s'/></backingStore>" % (
                escape(backing), escape(backing_format or "raw"))
        return self.pool.createXML(xml + "</volume>", 0)

    def upload(self, name, local_path, fmt):
        """A volume filled with the bytes of a local file, streamed (never whole in memory); returns bytes sent."""
        with open(local_path, "rb") as source:
            return self.fill(name, os.path.getsize(local_path), fmt,
                             lambda sink: shutil.copyfileobj(source, sink, CHUNK))

    def fill(self, name, size, fmt, produce):
        """A volume of ``size`` bytes that ``produce(sink)`` writes, over a libvirt stream, to ``sink`` (a file-like
        object: write()); returns the bytes sent."""
        vol = self.create(name, size, fmt)
        stream = self.conn.newStream(0)
        sink = StreamSink(stream)
        try:
            vol.upload(stream, 0, size, 0)
            produce(sink)
            stream.finish()
        except Exception:
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass
            raise
        return sink.sent

    def close(self):
        if self._ours and self.pool is not None:
            try:
                self.pool.destroy()
            except libvirt.libvirtError:
                pass
            self.pool = None

    def __exit__(self, *exc):
        self.close()


class StreamSink:
    """A blocking libvirt stream as a file open for writing."""

    def __init__(self, stream):
        self.stream = stream
        self.sent = 0

    def write(self, data):
        view = memoryview(data)
        while view:
            count = self.stream.send(bytes(view[:CHUNK]))
            view = view[count:]
        self.sent += len(data)
        return len(data)


def exists(conn, directory, name, attempts=3):
    """Whether ``directory/name`` exists on the host of ``conn`` (False when the directory does not).

    The pool of that directory may be another run's transient one, which that run ends under the
    look-up (two checks of one instance at once, in check mode: no lock keeps them apart); the look-up
    is then made again, in the pool the host has by then or one of its own."""
    for attempt in range(attempts):
        try:
            with Directory(conn, directory) as found:
                return found.volume(name) is not None
        except libvirt.libvirtError as exc:
            # the directory is not there, or the pool ended under the look-up ("not active")
            if exc.get_error_code() not in (libvirt.VIR_ERR_NO_STORAGE_POOL, libvirt.VIR_ERR_OPERATION_FAILED,
                                            libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_ERR_SYSTEM_ERROR,
                                            libvirt.VIR_ERR_OPERATION_INVALID):
                raise
            if attempt + 1 < attempts:
                time.sleep(0.1)
    return False


class Changes:
    """What was made on the other host (volumes, directories), undone newest first."""

    def __init__(self, conn):
        self.conn = conn
        self.volumes = []       # (directory path, name)
        self.directories = []   # paths made by a pool build
        self.bytes_uploaded = 0
        self.bases = {}         # name: how a _base file was made (remote_base.make_base)

    def undo(self):
        """Remove what was made; returns what could not be removed (sentences), never raises."""
        left = []
        for directory, name in reversed(self.volumes):
            try:
                with Directory(self.conn, directory) as found:
                    vol = found.volume(name)
                    if vol is not None:
                        vol.delete(0)
            except libvirt.libvirtError as exc:
                left.append("%s/%s: %s" % (directory, name, exc.get_error_message()))
        for path in reversed(self.directories):
            # a directory this run made holds only what this run's guest put there (its console log...)
            try:
                with Directory(self.conn, path) as found:
                    for vol in found.pool.listAllVolumes(0):
                        vol.delete(0)
            except libvirt.libvirtError as exc:
                left.append("%s: %s" % (path, exc.get_error_message()))
            # libvirt deletes (rmdir, an empty directory only) the directory of an inactive pool: a defined one
            xml = ("<pool type='dir'><name>novaops-rm-%s</name><target><path>%s</path></target></pool>"
                   % (uuidlib.uuid4().hex[:12], escape(path)))
            try:
                pool = self.conn.storagePoolDefineXML(xml, 0)
                try:
                    pool.delete(0)
                finally:
                    pool.undefine()
            except libvirt.libvirtError as exc:
                left.append("%s: %s" % (path, exc.get_error_message()))
        self.volumes, self.directories = [], []
        return left

    def made(self):
        return dict(volumes=["%s/%s" % item for item in self.volumes], directories=list(self.directories),
                    bases=dict(self.bases))


def require_absent(directory, name, where):
    """Refuse to overwrite a file already on the other host (a leftover of another run)."""
    if directory.volume(name) is not None:
        raise NovaopsError("%s/%s already exists on %s: a leftover of an earlier migration? Remove it, or move the "
                           "instance with storage=shared if the disks are shared." % (directory.path, name, where))

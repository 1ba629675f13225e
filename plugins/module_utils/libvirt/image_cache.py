# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``_base`` image cache of a libvirt hypervisor, as Nova's imagebackend kept it.

An image (from Glance v2, an http(s) URL or a local file) is fetched once into
``<instances_path>/_base/<sha1(image_id)>``, under an exclusive ``fcntl`` lock on
``<name>.lock`` so that concurrent boots of the same image fetch it once.  The data is
written to ``<name>.part``, verified (Glance's os_hash_value or checksum and size; a given
``algo:hex`` checksum and the Content-Length for URLs), probed with ``qemu-img info`` under
resource limits, refused when it names a backing file or an external data file (a crafted
image would otherwise make QEMU read any host file), optionally converted to raw, and only
then renamed into place: a base file that exists is complete and safe.  A failed fetch
leaves neither a base file nor a ``.part``.

Unlike Nova's image cache locks (oslo.concurrency left each lock file behind for good), the lock
file is removed by its holder on release; a waiter that then holds a lock on the removed
file notices (the path no longer names its inode) and locks the new one.  Only a process
killed while holding the lock leaves the file behind, harmless and removed by the next
holder.

Base files made here rather than fetched (Nova's ``ephemeral_*`` and ``swap_*``) are
published the same way (``ensure_built``).  Instance disks are qcow2 overlays on a base,
created with the base's cluster size.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import time

from urllib.parse import urlsplit

from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import backing_file_of, external_data_file_of
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.common.tls import client_context

ALLOWED_FORMATS = ("raw", "qcow2")
DEFAULT_CLUSTER_SIZE = 65536
BASE_DIR = "_base"


def base_name(image_id):
    """The cache file name of an image: sha1 of its ID, as Nova named them."""
    return hashlib.sha1(str(image_id).encode("utf-8")).hexdigest()


class ImageRef:
    """Where an image comes from: exactly one of Glance ``id``, ``url`` or local ``path``."""

    def __init__(self, id=None, url=None, path=None, checksum=None, raw=False,  # pylint: disable=redefined-builtin
                 validate_certs=True, ca_path=None):
        given = [k for k, v in (("id", id), ("url", url), ("path", path)) if v]
        if len(given) != 1:
            raise NovaopsError("An image needs exactly one of id (Glance), url or path; got %s." % (
                ", ".join(given) or "none"))
        self.glance_id = id
        self.url = url
        self.path = path
        self.checksum = checksum
        self.raw = bool(raw)
        self.validate_certs = validate_certs is not False
        self.ca_path = ca_path
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise NovaopsError("The image URL %r is not an http(s) URL with a host." % url)
        if path and not os.path.isabs(path):
            raise NovaopsError("The image path %r is not absolute." % path)
        if checksum:
            algo, _sep, value = checksum.partition(":")
            if not value or algo not in hashlib.algorithms_available:
                raise NovaopsError("The checksum %r is not of the form <algorithm>:<hex digest>." % checksum)

    @classmethod
    def from_params(cls, params):
        if not params:
            return None
        return cls(id=params.get("id"), url=params.get("url"), path=params.get("path"),
                   checksum=params.get("checksum"), raw=params.get("raw"),
                   validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"))

    @property
    def source(self):
        return "glance" if self.glance_id else ("url" if self.url else "file")

    @property
    def image_id(self):
        """What the cache name is the sha1 of: the Glance ID, else the URL or the path."""
        return self.glance_id or self.url or self.path

    def describe(self):
        return dict(source=self.source, id=self.image_id)


class ImageCache:
    """The ``_base`` directory under an instances path."""

    def __init__(self, instances_path, qemu_img, glance_factory=None, lock_timeout=600):
        self.instances_path = instances_path
        self.base_dir = os.path.join(instances_path, BASE_DIR)
        self.qemu_img = qemu_img
        self._glance_factory = glance_factory
        self.lock_timeout = lock_timeout

    def path_for(self, ref):
        return os.path.join(self.base_dir, base_name(ref.image_id))

    def present(self, ref):
        return os.path.isfile(self.path_for(ref))

    def ensure(self, ref):
        """The base file of ``ref``, fetched if missing.  Returns facts incl. ``fetched``."""
        path = self.path_for(ref)
        started = time.monotonic()
        transfer = {}

        def fetch(part):
            transfer.update(self._fetch(ref, part))
            info = self.inspect(part, expected_format=transfer.get("disk_format"))
            if ref.raw and info["format"] != "raw":
                converted = path + ".converting"
                try:
                    self.qemu_img.convert(part, converted, "raw", src_fmt=info["format"])
                    os.rename(converted, part)
                finally:
                    if os.path.exists(converted):
                        os.unlink(converted)

        if not self._publish(path, fetch):
            return self._facts(ref, path, fetched=False)
        facts = self._facts(ref, path, fetched=True)
        facts.update(bytes=transfer["bytes"], verified_by=transfer.get("verified_by"),
                     duration=round(time.monotonic() - started, 3))
        return facts

    def ensure_built(self, name, build):
        """A base file made on this host (``build(part_path)`` writes it), published like a fetched one.

        Returns (path, made).
        """
        path = os.path.join(self.base_dir, name)
        return path, self._publish(path, build)

    def _publish(self, path, make):
        """Make ``path`` once, under its lock: ``make(part)`` writes ``<path>.part``, renamed into place
        only when it returned.  Returns False when the file was there already."""
        if os.path.isfile(path):
            return False
        os.makedirs(self.base_dir, exist_ok=True)
        with FileLock(path + ".lock", self.lock_timeout):
            if os.path.isfile(path):     # someone else made it while we waited
                return False
            part = path + ".part"
            try:
                make(part)
                os.chmod(part, 0o644)
                os.rename(part, path)
            finally:
                if os.path.exists(part):
                    os.unlink(part)
        return True

    def _facts(self, ref, path, fetched):
        info = self.qemu_img.info(path)
        return dict(path=path, fetched=fetched, format=info.get("format"), virtual_size=info.get("virtual-size"),
                    cluster_size=info.get("cluster-size"), image=ref.describe())

    # -- fetching --------------------------------------------------------------------------
    def _fetch(self, ref, dest):
        if ref.glance_id:
            if self._glance_factory is None:
                raise NovaopsError("Image %s is a Glance image but no Glance endpoint is configured." % ref.glance_id)
            glance = self._glance_factory()
            image = glance.get_image(ref.glance_id)
            if image.get("disk_format") not in ALLOWED_FORMATS:
                raise NovaopsError("Glance image %s has disk_format %s; only %s can boot here." % (
                    ref.glance_id, image.get("disk_format"), ", ".join(ALLOWED_FORMATS)))
            result = glance.download(ref.glance_id, dest, image=image, verify=True)
            result["disk_format"] = image.get("disk_format")
            return result
        if ref.url:
            return self._fetch_url(ref, dest)
        return self._copy_file(ref, dest)

    def _copy_file(self, ref, dest):
        if not os.path.isfile(ref.path):
            raise NovaopsError("The image file %s does not exist." % ref.path)
        hasher = _Checksum(ref.checksum)
        with open(ref.path, "rb") as src, open(dest, "wb") as out:
            size = _copy_hashing(src, out, hasher)
        return dict(bytes=size, verified_by=hasher.verify(ref.path))

    def _fetch_url(self, ref, dest, timeout=300):
        from http import client as http_client
        parts = urlsplit(ref.url)
        if parts.scheme == "https":
            conn = http_client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                               context=client_context(ref.ca_path, ref.validate_certs))
        else:
            conn = http_client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        hasher = _Checksum(ref.checksum)
        size = 0
        try:
            conn.request("GET", target, headers={"User-Agent": "novaops.compute-image/1"})
            resp = conn.getresponse()
            if resp.status != 200:
                raise NovaopsError("Fetching image %s answered %s %s." % (ref.url, resp.status, resp.reason))
            length = resp.getheader("Content-Length")
            with open(dest, "wb") as out:
                size = _copy_hashing(resp, out, hasher)
        except (OSError, http_client.HTTPException) as exc:
            raise NovaopsError("Fetching image %s failed: %s" % (ref.url, exc))
        finally:
            conn.close()
        # http.client ends a body cut short quietly; a truncated qcow2 would still probe fine
        if length is not None and length.isdigit() and size != int(length):
            raise NovaopsError("Fetching image %s failed: the connection ended after %d of %s bytes." % (
                ref.url, size, length))
        return dict(bytes=size, verified_by=hasher.verify(ref.url))

    # -- safety --------------------------------------------------------------------------
    def inspect(self, path, expected_format=None):
        """qemu-img info of data from outside, with every check a base file must pass."""
        info = self.qemu_img.info(path, untrusted=True)
        fmt = info.get("format")
        backing = backing_file_of(info)
        if backing:
            raise NovaopsError("Refusing the image: qemu-img info shows a backing file (%s); an image with a "
                               "backing file could make QEMU read files of this host." % backing,
                               backing_file=backing)
        data_file = external_data_file_of(info)
        if data_file:
            raise NovaopsError("Refusing the image: it is a qcow2 with an external data file (%s)." % data_file,
                               data_file=data_file)
        if fmt not in ALLOWED_FORMATS:
            raise NovaopsError("Refusing the image: its format is %s; only %s can be used." % (
                fmt, ", ".join(ALLOWED_FORMATS)))
        if expected_format and expected_format != fmt:
            raise NovaopsError("Refusing the image: Glance says disk_format %s but the data is %s." % (
                expected_format, fmt))
        return info

    def create_overlay(self, base_path, disk_path, size=None):
        """A qcow2 overlay on a base file, with the base's cluster size (64 KiB for raw)."""
        info = self.qemu_img.info(base_path)
        cluster = info.get("cluster-size") or DEFAULT_CLUSTER_SIZE
        if size is not None and size < info.get("virtual-size", 0):
            size = None
        self.qemu_img.create(disk_path, "qcow2", size=size, backing=base_path,
                             backing_fmt=info.get("format"), cluster_size=cluster)
        return dict(path=disk_path, backing=base_path, cluster_size=cluster)

    def remove(self, ref):
        path = self.path_for(ref)
        if os.path.exists(path):
            os.unlink(path)
            return True
        return False


def _copy_hashing(src, out, hasher, chunk_size=1024 * 1024):
    """Copy src to out in chunks, feeding each to hasher; returns the bytes copied."""
    size = 0
    while True:
        chunk = src.read(chunk_size)
        if not chunk:
            return size
        hasher.update(chunk)
        out.write(chunk)
        size += len(chunk)


class _Checksum:
    def __init__(self, spec):
        self.spec = spec
        self.hasher = None
        if spec:
            algo, _sep, self.expected = spec.partition(":")
            self.hasher = hashlib.new(algo)

    def update(self, chunk):
        if self.hasher is not None:
            self.hasher.update(chunk)

    def verify(self, where):
        if self.hasher is None:
            return None
        if self.hasher.hexdigest() != self.expected.lower():
            raise NovaopsError("The checksum of %s is %s, not the expected %s." % (
                where, self.hasher.hexdigest(), self.spec))
        return self.spec.partition(":")[0]


class FileLock:
    """An exclusive fcntl lock on a file, waited for at most ``timeout`` seconds; the file is
    removed on release.

    A waiter may lock a file its holder has just removed: it holds the lock only when the
    path still names the inode it locked, else it opens the path again.
    """

    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        deadline = time.monotonic() + self.timeout
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            else:
                if _names_inode(self.path, fd):
                    self.fd = fd
                    return self
                os.close(fd)      # locked a removed file: its holder is done, take the new one
                continue
            if time.monotonic() >= deadline:
                raise WaitTimeout("the image cache lock %s" % self.path, self.timeout)
            time.sleep(0.1)

    def __exit__(self, *exc):
        if self.fd is not None:
            try:
                os.unlink(self.path)     # while still locked: nobody can hold the same name meanwhile
            except FileNotFoundError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False


def _names_inode(path, fd):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``_base`` image cache of a libvirt hypervisor, as Nova's imagebackend kept it.

An image (from Glance v2, an http(s) URL or a local file) is fetched once into
``<instances_path>/_base/<sha1(image_id)>``, under an exclusive ``fcntl`` lock on
``<name>.lock`` so that concurrent boots of the same image fetch it once.  The data is
written to ``<name>.part``, verified (Glance's os_hash_value or checksum and size; a given
``algo:hex`` checksum and the Content-Length for URLs), and checked before qemu-img sees it:
its format is read from its bytes (image_format.py: raw, qcow2, vhd or a monolithic sparse
vmdk; a backing file, an external data file or a vmdk extent elsewhere is refused), then
``qemu-img info -f <that format>`` runs under resource and wall-clock limits and must agree.
vhd and vmdk are converted to raw (``raw: true``), as may qcow2 be; only then is the file renamed
into place: a base file that exists is complete and safe.  A failed fetch leaves neither a
base file nor a ``.part``.

A Glance image of ``container_format: ovf`` and ``disk_format: vhd`` is a XenAPI snapshot's VHD
tarball (``raw: true`` too): it is unpacked while it downloads (disks/vhd_tarball.py) into
``<name>.vhds`` (0700, removed whatever happens) and its chain flattened into ``<name>.part`` as a
sparse raw file (disks/vhd_chain.py), which is then checked and published as any other.

Every file here is reached through ``confined.Root`` (instances_path, without following a
link anywhere): a link, FIFO or hard-linked file planted at a base, ``.part``, ``.lock`` or
instance disk name is refused, never followed.  An image file given by path is opened the
same way.

Unlike Nova's image cache locks (oslo.concurrency left each lock file behind for good), the lock
file is removed by its holder on release; a waiter that then holds a lock on the removed
file notices (the name no longer names its inode) and locks the new one.  Only a process
killed while holding the lock leaves the file behind, harmless and removed by the next
holder.

Base files made here rather than fetched (Nova's ``ephemeral_*`` and ``swap_*``) are
published the same way (``ensure_built``).  Instance disks are qcow2 overlays on a base,
created with the base's cluster size and its format recorded (``backing_fmt``).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
import time

from urllib.parse import urlsplit

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.common.tls import client_context
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root, check_plain_file, open_plain_file
from ansible_collections.novaops.compute.plugins.module_utils.disks.image_format import (
    UnsafeImage, check_info, detect_format, glance_format)
from ansible_collections.novaops.compute.plugins.module_utils.common.redact import redact_url
from ansible_collections.novaops.compute.plugins.module_utils.disks import vhd_tarball
from ansible_collections.novaops.compute.plugins.module_utils.disks.vhd_chain import Vhd, flatten

ALLOWED_FORMATS = ("raw", "qcow2")           # what a base file may be (QEMU reads it under the overlays)
CONVERTIBLE_FORMATS = ("vpc", "vmdk")        # accepted from outside only to be converted to raw (raw: true)
GLANCE_DISK_FORMATS = ("raw", "qcow2", "vhd", "vmdk")
VHD_TARBALL = ("ovf", "vhd")                 # (container_format, disk_format) of a XenAPI snapshot's VHD chain
DEFAULT_CLUSTER_SIZE = 65536
BASE_DIR = "_base"
CONVERT_SECONDS = 3600                      # wall-clock limit of converting an image from outside
# checksums of a fixed digest size (shake_* have none), as hashlib names them
CHECKSUM_ALGORITHMS = tuple(a for a in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224",
                                        "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s")
                            if a in hashlib.algorithms_available)


def base_name(image_id):
    """The cache file name of an image: sha1 of its ID, as Nova named them."""
    return hashlib.sha1(str(image_id).encode("utf-8")).hexdigest()


def check_checksum(spec, option):
    """``<algorithm>:<hex digest>`` with an algorithm of CHECKSUM_ALGORITHMS and a digest of its length."""
    algo, _sep, value = str(spec).partition(":")
    algo = algo.strip().lower()
    if algo not in CHECKSUM_ALGORITHMS:
        raise NovaopsError("%s %r: %s is not a checksum algorithm this module can verify; use <algorithm>:<hex "
                           "digest> with one of %s." % (option, spec[:80], algo[:40] or "no algorithm",
                                                        ", ".join(CHECKSUM_ALGORITHMS)))
    size = hashlib.new(algo).digest_size * 2
    if len(value) != size or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise NovaopsError("%s %r: a %s digest is %d hexadecimal digits." % (option, spec[:80], algo, size))
    return algo, value.lower()


class ImageRef:
    """Where an image comes from: exactly one of Glance ``id``, ``url`` or local ``path``.

    ``option`` is the module option it came from (image, rescue_image), for messages.
    """

    def __init__(self, id=None, url=None, path=None, checksum=None, raw=False,  # pylint: disable=redefined-builtin
                 validate_certs=True, ca_path=None, option="image"):
        given = [k for k, v in (("id", id), ("url", url), ("path", path)) if v]
        self.option = option
        if len(given) != 1:
            raise NovaopsError("%s needs exactly one of id (Glance), url or path; got %s." % (
                option, ", ".join(given) or "none"))
        self.glance_id = id
        self.url = url
        self.path = path
        self.checksum = checksum
        self.raw = bool(raw)
        self.validate_certs = validate_certs is not False
        self.ca_path = ca_path
        if url:
            try:
                parts = urlsplit(url)
                usable = parts.scheme in ("http", "https") and parts.hostname
                parts.port     # pylint: disable=pointless-statement  # a port that is not a number raises here
            except ValueError:
                usable = False
            if not usable:
                raise NovaopsError("%s.url %r is not an http(s) URL with a host." % (option, redact_url(url)))
        if path and not os.path.isabs(path):
            raise NovaopsError("%s.path %r is not absolute." % (option, path))
        if checksum:
            check_checksum(checksum, "%s.checksum" % option)

    @classmethod
    def from_params(cls, params, option="image"):
        if not params:
            return None
        return cls(id=params.get("id"), url=params.get("url"), path=params.get("path"),
                   checksum=params.get("checksum"), raw=params.get("raw"),
                   validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"), option=option)

    @property
    def source(self):
        return "glance" if self.glance_id else ("url" if self.url else "file")

    @property
    def image_id(self):
        """What the cache name is the sha1 of: the Glance ID, else the URL (without its credentials) or the path."""
        return self.glance_id or redact_url(self.url) or self.path

    def check_source(self):
        """Before a fetch is planned: an image file that is a link (anywhere in its path), a FIFO or a hard-linked
        file is refused now, before anything changes (it is opened the same way when read)."""
        if self.path:
            check_plain_file(self.path, "%s.path" % self.option, missing_ok=True)

    @property
    def shown_url(self):
        return redact_url(self.url)

    def describe(self):
        return dict(source=self.source, id=self.image_id)


class ImageCache:
    """The ``_base`` directory under an instances path, reached through a confined Root."""

    def __init__(self, instances_path, qemu_img, glance_factory=None, lock_timeout=600):
        self.root = Root(instances_path, "instances_path")
        self.instances_path = self.root.path
        self.base_dir = self.root.path_of(BASE_DIR)
        self.qemu_img = qemu_img
        self._glance_factory = glance_factory
        self.lock_timeout = lock_timeout

    @staticmethod
    def rel(name):
        return (BASE_DIR, name)

    def path_for(self, ref):
        return self.root.path_of(self.rel(base_name(ref.image_id)))

    def present(self, ref):
        return self.has(base_name(ref.image_id))

    def has(self, name):
        """Whether the base file is there (a link, FIFO or hard-linked file in its place is refused)."""
        return self.root.isfile(self.rel(name))

    def check_clear(self, name):
        """Refuse, before anything is made, a base that is to be published while a link, FIFO or hard-linked
        file lies at one of the names it takes (the base, its .part, .lock or .converting)."""
        for suffix in ("", ".part", ".lock", ".converting"):
            self.root.isfile(self.rel(name + suffix))

    def ensure(self, ref):
        """The base file of ``ref``, fetched if missing.  Returns facts incl. ``fetched``."""
        name = base_name(ref.image_id)
        started = time.monotonic()
        transfer = {}

        def fetch(out, part):
            transfer.update(self._fetch(ref, out, name))
            out.flush()
            what = "image %s" % ref.image_id
            fmt = self.inspect(part, expected_format=transfer.get("disk_format"), what=what)["format"]
            if fmt in ALLOWED_FORMATS and not (ref.raw and fmt != "raw"):
                return
            if not ref.raw:
                raise UnsafeImage("Refusing %s: its format is %s; a base file must be %s (set %s.raw: true to "
                                  "convert it to raw)." % (what, fmt, " or ".join(ALLOWED_FORMATS), ref.option))
            converting = self.rel(name + ".converting")
            target = self.root.reserve(converting, replace=True)
            try:
                self.qemu_img.convert(self.root.tool_path(part), target, "raw", src_fmt=fmt, untrusted=True,
                                      seconds=max(self.lock_timeout, CONVERT_SECONDS))
                self.root.rename(converting, part)
            finally:
                self.root.unlink(converting)

        if not self._publish(name, fetch):
            return self._facts(ref, name, fetched=False)
        facts = self._facts(ref, name, fetched=True)
        facts.update(bytes=transfer["bytes"], verified_by=transfer.get("verified_by"),
                     duration=round(time.monotonic() - started, 3))
        if "vhd_files" in transfer:
            facts["vhd_files"] = transfer["vhd_files"]
        return facts

    def ensure_built(self, name, build):
        """A base file made on this host, published like a fetched one: ``build(out, part)`` writes the
        open file ``out`` (or, through ``self.root.tool_path(part)``, a tool does).

        Returns (path, made).
        """
        return self.root.path_of(self.rel(name)), self._publish(name, build)

    def _publish(self, name, make):
        """Make the base ``name`` once, under its lock: ``make(out, part)`` writes ``<name>.part``, renamed into
        place only when it returned.  Returns False when the file was there already."""
        if self.has(name):
            return False
        self.root.mkdir(BASE_DIR, parents=True)
        with FileLock(self.root, self.rel(name + ".lock"), self.lock_timeout):
            if self.has(name):     # someone else made it while we waited
                return False
            part = self.rel(name + ".part")
            fd = self.root.create(part, mode=0o600, replace=True)
            try:
                with os.fdopen(fd, "wb") as out:
                    fd = None
                    make(out, part)
                self.root.chmod(part, 0o644)
                self.root.rename(part, self.rel(name))
            finally:
                if fd is not None:
                    os.close(fd)
                self.root.unlink(part)
        return True

    def base_info(self, name):
        """qemu-img info of a base file, with the format its bytes tell (the one it was checked as)."""
        rel = self.rel(name)
        fd = self.root.open(rel)
        try:
            fmt = detect_format(fd, "the base file %s" % self.root.path_of(rel))
        finally:
            os.close(fd)
        return self.qemu_img.info(self.root.tool_path(rel), fmt)

    def _facts(self, ref, name, fetched):
        info = self.base_info(name)
        return dict(path=self.root.path_of(self.rel(name)), fetched=fetched, format=info.get("format"),
                    virtual_size=info.get("virtual-size"), cluster_size=info.get("cluster-size"), image=ref.describe())

    # -- fetching --------------------------------------------------------------------------
    def _fetch(self, ref, out, name):
        if ref.glance_id:
            if self._glance_factory is None:
                raise NovaopsError("Image %s is a Glance image but no Glance endpoint is configured." % ref.glance_id)
            glance = self._glance_factory()
            image = glance.get_image(ref.glance_id)
            disk_format = image.get("disk_format")
            container = image.get("container_format")
            if disk_format not in GLANCE_DISK_FORMATS or \
                    (glance_format(disk_format) not in ALLOWED_FORMATS and not ref.raw):
                raise NovaopsError("Glance image %s has disk_format %s; only %s can boot here (vhd and vmdk with "
                                   "%s.raw: true, converted to raw)." % (
                                       ref.glance_id, disk_format, ", ".join(ALLOWED_FORMATS), ref.option))
            if (container, disk_format) == VHD_TARBALL:
                return self._fetch_vhd_tarball(glance, ref, image, out, name)
            if container not in (None, "bare"):
                raise NovaopsError("Glance image %s has container_format %s; only bare images (and ovf with "
                                   "disk_format vhd: a XenAPI snapshot's VHD tarball) can boot here." % (
                                       ref.glance_id, container))
            result = glance.download(ref.glance_id, out, image=image, verify=True)
            result["disk_format"] = disk_format
            return result
        if ref.url:
            return self._fetch_url(ref, out)
        return self._copy_file(ref, out)

    def _fetch_vhd_tarball(self, glance, ref, image, out, name):
        """A XenAPI snapshot's VHD tarball: its members unpacked while it downloads into ``<name>.vhds`` (0700,
        removed whatever happens), the chain checked and flattened into ``out`` as a sparse raw file."""
        staging = self.rel(name + ".vhds")
        self.root.rmtree(staging)          # a killed fetch's leftover, under the base's lock
        self.root.mkdir(staging, mode=0o700)
        chain = []
        try:
            names, result = self._unpack_download(glance, ref, image, staging)
            for member in names:
                fd = self.root.open(staging + (member,))
                try:
                    chain.append(Vhd(fd, member))
                except BaseException:
                    os.close(fd)
                    raise
            out.flush()
            result.update(flatten(chain, out.fileno()), disk_format="raw", vhd_files=len(chain))
            return result
        finally:
            for vhd in chain:
                os.close(vhd.fd)
            self.root.rmtree(staging)

    def _unpack_download(self, glance, ref, image, staging):
        """Glance's data piped into vhd_tarball.unpack (a thread) as it arrives; (member names, download facts).

        An uncompressed tarball's members may hold at most Glance's size of it; a gzipped one's at
        most the free space of ``_base``."""
        space = os.statvfs(self.base_dir)
        limits = (int(image.get("size") or 0), space.f_bavail * space.f_frsize)
        read_fd, write_fd = os.pipe()
        outcome = {}

        def unpack():
            try:
                with os.fdopen(read_fd, "rb") as stream:
                    outcome["names"] = vhd_tarball.unpack(stream, self.root, staging, *limits)
            except BaseException as exc:       # pylint: disable=broad-except  # raised in the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=unpack, name="vhd-tarball", daemon=True)
        worker.start()
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                result = glance.download(ref.glance_id, pipe, image=image, verify=True)
        except NovaopsError:
            worker.join()
            if "error" in outcome:     # the unpacker's refusal closed the pipe: it is the reason
                raise outcome["error"] from None
            raise
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["names"], result

    def _copy_file(self, ref, out):
        if not os.path.lexists(ref.path):
            raise NovaopsError("The image file %s does not exist." % ref.path)
        hasher = _Checksum(ref.checksum)
        with os.fdopen(open_plain_file(ref.path, "%s.path" % ref.option), "rb") as src:
            size = _copy_hashing(src, out, hasher)
        return dict(bytes=size, verified_by=hasher.verify(ref.path))

    def _fetch_url(self, ref, out, timeout=300):
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
        shown = ref.shown_url
        try:
            conn.request("GET", target, headers={"User-Agent": "novaops.compute-image/1"})
            resp = conn.getresponse()
            if resp.status != 200:
                raise NovaopsError("Fetching image %s answered %s %s." % (shown, resp.status, resp.reason))
            length = resp.getheader("Content-Length")
            size = _copy_hashing(resp, out, hasher)
        except (OSError, http_client.HTTPException) as exc:
            raise NovaopsError("Fetching image %s failed: %s" % (shown, exc))
        finally:
            conn.close()
        # http.client ends a body cut short quietly; a truncated qcow2 would still probe fine
        if length is not None and length.isdigit() and size != int(length):
            raise NovaopsError("Fetching image %s failed: the connection ended after %d of %s bytes." % (
                shown, size, length))
        return dict(bytes=size, verified_by=hasher.verify(shown))

    # -- safety --------------------------------------------------------------------------
    def inspect(self, part, expected_format=None, what="the image"):
        """The checks of data from outside in ``part`` (a name under the root): its format from its bytes
        (image_format.detect_format), then qemu-img info -f that format under limits, which must agree."""
        fd = self.root.open(part)
        try:
            fmt = detect_format(fd, what)
        finally:
            os.close(fd)
        if expected_format and glance_format(expected_format) != fmt:
            raise UnsafeImage("Refusing %s: Glance says disk_format %s but the data is %s." % (
                what, expected_format, fmt))
        path = self.root.tool_path(part)
        return check_info(self.qemu_img.info(path, fmt, untrusted=True), fmt, path, what)

    def create_overlay(self, name, root, rel, size=None, replace=False):
        """A qcow2 overlay ``rel`` of ``root`` on the base ``name``, with the base's cluster size (64 KiB for raw)
        and format.  The overlay's file is made here first (no link followed), then qemu-img writes it;
        a failure leaves no file behind."""
        with FileLock(self.root, self.rel(name + ".lock"), self.lock_timeout):
            # under the base's lock, which the image cache cleanup takes to remove it: the base is touched
            # (its age counts from its last use, as Nova's update_mtime) and the overlay made before it may go
            if not self.has(name):
                raise NovaopsError("The base file %s was removed (by an image cache cleanup) after this run planned "
                                   "to use it; run again to fetch it again." % self.root.path_of(self.rel(name)))
            self.touch(name)
            info = self.base_info(name)
            cluster = info.get("cluster-size") or DEFAULT_CLUSTER_SIZE
            if size is not None and size < info.get("virtual-size", 0):
                size = None
            base_path = self.root.path_of(self.rel(name))
            disk_path = root.reserve(rel, mode=0o644, replace=replace)
            try:
                self.qemu_img.create(disk_path, "qcow2", size=size, backing=base_path,
                                     backing_fmt=info.get("format"), cluster_size=cluster)
            except BaseException:
                root.unlink(rel)
                raise
        return dict(path=disk_path, backing=base_path, cluster_size=cluster)

    def touch(self, name):
        """The base's modification time set to now, through a descriptor (no link followed)."""
        fd = self.root.open(self.rel(name))
        try:
            os.utime(fd)
        finally:
            os.close(fd)

    def remove(self, ref):
        return self.root.unlink(self.rel(base_name(ref.image_id)))


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
            self.algo, self.expected = check_checksum(spec, "checksum")
            self.hasher = hashlib.new(self.algo)

    def update(self, chunk):
        if self.hasher is not None:
            self.hasher.update(chunk)

    def verify(self, where):
        if self.hasher is None:
            return None
        if self.hasher.hexdigest() != self.expected:
            raise NovaopsError("The checksum of %s is %s, not the expected %s." % (
                where, self.hasher.hexdigest(), self.spec))
        return self.algo


class FileLock:
    """An exclusive fcntl lock on the file ``rel`` of a confined Root, waited for at most ``timeout`` seconds;
    the file is removed on release.

    A waiter may lock a file its holder has just removed: it holds the lock only when the
    name still names the inode it locked, else it opens the name again.
    """

    def __init__(self, root, rel, timeout):
        self.root = root
        self.rel = rel
        self.path = root.path_of(rel)
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        deadline = time.monotonic() + self.timeout
        while True:
            fd = self.root.open(self.rel, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            else:
                if self._names_inode(fd):
                    self.fd = fd
                    return self
                os.close(fd)      # locked a removed file: its holder is done, take the new one
                continue
            if time.monotonic() >= deadline:
                raise WaitTimeout("the image cache lock %s" % self.path, self.timeout)
            time.sleep(0.1)

    def _names_inode(self, fd):
        seen = self.root.lstat(self.rel)
        return seen is not None and os.path.samestat(seen, os.fstat(fd))

    def __exit__(self, *exc):
        if self.fd is not None:
            self.root.unlink(self.rel)     # while still locked: nobody can hold the same name meanwhile
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False

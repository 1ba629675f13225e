# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The _base cache with the real qemu-img (qemu-utils) on real small images."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import threading
import time

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import image_cache as img
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")


def qemu_io(path, command):
    subprocess.run(["qemu-io", "-c", command, path], check=True, capture_output=True)


@pytest.fixture
def image_file(tmp_path):
    path = str(tmp_path / "src.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=131072", path, "8M"], check=True)
    qemu_io(path, "write -P 0xab 0 1M")
    return path


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_base_name_is_sha1_of_the_image_id():
    assert img.base_name("abc") == hashlib.sha1(b"abc").hexdigest()


def test_fetch_file_into_base_once_and_overlay_with_its_cluster_size(tmp_path, qimg, image_file):
    cache = img.ImageCache(str(tmp_path / "inst"), qimg)
    ref = img.ImageRef(path=image_file, checksum="sha256:" + sha256(image_file))
    first = cache.ensure(ref)
    assert first["fetched"] and first["verified_by"] == "sha256" and first["format"] == "qcow2"
    assert first["path"] == str(tmp_path / "inst" / "_base" / img.base_name(image_file))
    assert not cache.ensure(ref)["fetched"]
    disk = str(tmp_path / "disk")
    cache.create_overlay(img.base_name(image_file), Root(str(tmp_path), "t"), "disk", size=16 * 1024 * 1024)
    info = qimg.info(disk, "qcow2")
    assert info["full-backing-filename"] == first["path"] and info["cluster-size"] == 131072
    assert info["virtual-size"] == 16 * 1024 * 1024
    qemu_io(disk, "read -P 0xab 0 1M")
    assert not [n for n in os.listdir(cache.base_dir) if n.endswith((".part", ".converting"))]


def test_convert_to_raw(tmp_path, qimg, image_file):
    cache = img.ImageCache(str(tmp_path), qimg)
    facts = cache.ensure(img.ImageRef(path=image_file, raw=True))
    assert facts["format"] == "raw" and facts["virtual_size"] == 8 * 1024 * 1024
    disk = str(tmp_path / "disk")
    cache.create_overlay(img.base_name(image_file), Root(str(tmp_path), "t"), "disk")
    assert qimg.info(disk, "qcow2")["cluster-size"] == 65536


def test_an_image_with_a_backing_file_is_refused_and_leaves_nothing(tmp_path, qimg):
    evil = str(tmp_path / "evil.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw", evil, "1M"],
                   check=True)
    cache = img.ImageCache(str(tmp_path / "inst"), qimg)
    ref = img.ImageRef(path=evil)
    with pytest.raises(NovaopsError, match="backing file") as caught:
        cache.ensure(ref)
    assert caught.value.facts["backing_file"] == "/etc/hostname"
    assert not cache.present(ref)
    assert os.listdir(cache.base_dir) == []     # no .part, and the lock file is gone too


def test_a_wrong_checksum_is_refused(tmp_path, qimg, image_file):
    cache = img.ImageCache(str(tmp_path), qimg)
    ref = img.ImageRef(path=image_file, checksum="sha256:" + "0" * 64)
    with pytest.raises(NovaopsError, match="not the expected"):
        cache.ensure(ref)
    assert not cache.present(ref)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(), "exactly one of"),
    (dict(id="a", url="http://x/y"), "exactly one of"),
    (dict(url="ftp://x/y"), "not an http"),
    (dict(url="http:///y"), "not an http"),
    (dict(path="relative/x"), "not absolute"),
    (dict(path="/x", checksum="nohash"), "algorithm"),
])
def test_bad_image_refs(kwargs, msg):
    with pytest.raises(NovaopsError, match=msg):
        img.ImageRef(**kwargs)


def test_url_fetch_and_http_errors(tmp_path, qimg, image_file):
    import http.server
    data = open(image_file, "rb").read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/img":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = "http://127.0.0.1:%d" % server.server_address[1]
        cache = img.ImageCache(str(tmp_path), qimg)
        facts = cache.ensure(img.ImageRef(url=base + "/img", checksum="md5:" + hashlib.md5(data).hexdigest()))
        assert facts["fetched"] and facts["bytes"] == len(data)
        with pytest.raises(NovaopsError, match="404"):
            cache.ensure(img.ImageRef(url=base + "/missing"))
    finally:
        server.shutdown()


def test_a_body_cut_short_leaves_nothing_and_a_rerun_fetches(tmp_path, qimg, image_file):
    """The server says Content-Length n and closes after n/2 bytes, once; no checksum is given,
    so only the length tells (the qcow2 header is complete and would probe fine)."""
    import http.server
    data = open(image_file, "rb").read()
    cut = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data if cut else data[:len(data) // 2])
            cut.append(True)
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cache = img.ImageCache(str(tmp_path), qimg)
        ref = img.ImageRef(url="http://127.0.0.1:%d/img" % server.server_address[1])
        with pytest.raises(NovaopsError, match="ended after %d of %d bytes" % (len(data) // 2, len(data))):
            cache.ensure(ref)
        assert os.listdir(cache.base_dir) == []
        facts = cache.ensure(ref)
        assert facts["fetched"] and facts["bytes"] == len(data) and sha256(facts["path"]) == sha256(image_file)
        assert os.listdir(cache.base_dir) == [img.base_name(ref.image_id)]
    finally:
        server.shutdown()


def test_built_bases_are_published_once_and_a_failed_build_leaves_nothing(tmp_path, qimg):
    cache = img.ImageCache(str(tmp_path), qimg)
    calls = []

    def build(out, part):
        calls.append(part)
        out.truncate(1024 * 1024)

    def broken(out, _part):
        out.write(b"half")
        raise NovaopsError("mkfs failed")

    with pytest.raises(NovaopsError, match="mkfs failed"):
        cache.ensure_built("swap_1", broken)
    assert os.listdir(cache.base_dir) == []
    path, made = cache.ensure_built("swap_1", build)
    assert made and os.path.getsize(path) == 1024 * 1024
    assert cache.ensure_built("swap_1", build) == (path, False) and len(calls) == 1
    assert os.listdir(cache.base_dir) == ["swap_1"]


def test_the_lock_waits_with_a_timeout(tmp_path):
    lock = str(tmp_path / "x.lock")
    root = Root(str(tmp_path), "instances_path")
    with img.FileLock(root, "x.lock", 1):
        with pytest.raises(WaitTimeout, match="image cache lock"):
            # a second open file description: flock conflicts even within one process
            with img.FileLock(root, "x.lock", 0.3):
                pass
    assert not os.path.exists(lock)
    with img.FileLock(root, "x.lock", 0.3):
        assert os.path.exists(lock)
    assert not os.path.exists(lock)


def test_the_lock_excludes_although_its_file_is_removed_on_release(tmp_path):
    """Waiters that locked a file its holder just removed must not run alongside the holder of
    the new file: at most one thread is ever inside."""
    lock = str(tmp_path / "x.lock")
    root = Root(str(tmp_path), "instances_path")
    inside, most, errors = [0], [0], []
    guard = threading.Lock()

    def worker():
        try:
            for _round in range(30):
                with img.FileLock(root, "x.lock", 30):
                    with guard:
                        inside[0] += 1
                        most[0] = max(most[0], inside[0])
                    time.sleep(0.001)
                    with guard:
                        inside[0] -= 1
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and most[0] == 1
    assert not os.path.exists(lock)


def test_a_waiter_that_locked_the_removed_file_does_not_hold_the_lock(tmp_path):
    """The race the inode check closes: a waiter opened the lock file before its holder removed
    it, and gets a flock on that removed file - which must not count as holding the lock."""
    lock = str(tmp_path / "x.lock")
    root = Root(str(tmp_path), "instances_path")
    holder = img.FileLock(root, "x.lock", 1).__enter__()
    stale = os.open(lock, os.O_RDWR)
    holder.__exit__(None, None, None)
    try:
        fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert not holder._names_inode(stale)
        with img.FileLock(root, "x.lock", 0.3) as fresh:      # the new file is free: the stale flock guards nothing
            assert fresh._names_inode(fresh.fd)
    finally:
        os.close(stale)


def test_a_lock_file_left_by_a_killed_holder_is_taken_over(tmp_path):
    lock = str(tmp_path / "x.lock")
    root = Root(str(tmp_path), "instances_path")
    open(lock, "w").close()     # what a killed holder leaves: the file, and no lock on it
    with img.FileLock(root, "x.lock", 0.3):
        pass
    assert not os.path.exists(lock)

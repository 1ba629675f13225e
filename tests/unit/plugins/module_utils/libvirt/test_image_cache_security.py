# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The _base cache against what an attacker plants and crafts (#18), with the real qemu-img.

- links, hard links and FIFOs planted at a base, its ``.part`` or its ``.lock`` (and for a Glance
  download): refused, the canary outside unread, unchanged, present, its mode kept;
- images whose format qemu-img would guess, and which name other files: a vmdk descriptor whose
  extent is a host file or a FIFO, a qcow2 with an external data file: refused before qemu-img
  opens anything but the image, and qemu-img never runs without ``-f`` nor without a wall-clock
  limit;
- checksums of an algorithm that cannot verify (shake_128) refused, naming the option;
- credentials in an image URL or a Glance endpoint never shown.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.disks import diskops
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import image_cache as img
from ansible_collections.novaops.compute.tests.unit.plugins.canaries import KINDS, Canaries, plant
from ansible_collections.novaops.compute.tests.unit.plugins.module_utils.glance.test_client import (  # noqa: F401 pylint: disable=unused-import
    server)

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")
DEADLINE = 30      # seconds a refusal may take; the old code hung for ever on a FIFO


@pytest.fixture
def image_file(tmp_path):
    path = str(tmp_path / "src.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "8M"], check=True)
    subprocess.run(["qemu-io", "-c", "write -P 0xab 0 1M", path], check=True, capture_output=True)
    return path


@pytest.fixture
def canaries(tmp_path):
    with Canaries(str(tmp_path / "outside")) as watched:
        yield watched


def within(seconds, call, unblock=None):
    """call() in a thread; its exception (or None).  A call still blocked after ``seconds`` fails the
    test, after ``unblock()`` freed it (a FIFO opened from the other end)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # pylint: disable=broad-except
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None:
            unblock()
            thread.join(10)
        pytest.fail("still blocked after %d seconds (a FIFO read without a limit)" % seconds)
    return outcome.get("error")


def release_fifo(path):
    """Open a FIFO from both ends without blocking, so that whoever waits on it gets EOF."""
    def unblock():
        for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
            try:
                os.close(os.open(path, flags))
            except OSError:
                pass
    return unblock


# -- item 3: links planted in _base ----------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", ".part", ".lock"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_plant_at_a_base_name_is_refused_and_the_canary_untouched(tmp_path, qimg, image_file, canaries, kind,
                                                                    suffix):
    cache = img.ImageCache(str(tmp_path / "inst"), qimg)
    ref = img.ImageRef(path=image_file)
    os.makedirs(cache.base_dir)
    at = os.path.join(cache.base_dir, img.base_name(ref.image_id) + suffix)
    plant(kind, at, canaries.make("secret"), canaries)
    canaries.reset()
    failure = within(DEADLINE, lambda: cache.ensure(ref), release_fifo(at))
    assert isinstance(failure, NovaopsError), "accepted: %r" % failure
    assert at in failure.msg and "instances_path" in failure.msg
    assert canaries.problems() == []
    assert sorted(os.listdir(cache.base_dir)) == [os.path.basename(at)]     # the plant, and nothing else


@pytest.mark.parametrize("kind", KINDS)
def test_a_glance_download_never_goes_through_a_plant(tmp_path, qimg, image_file, canaries, server, kind):  # noqa: F811
    glance = GlanceClient(server.url, project_id="p1", roles=["admin"])
    image = glance.create_image("img", disk_format="qcow2")
    glance.upload(image["id"], image_file)
    cache = img.ImageCache(str(tmp_path / "inst"), qimg, glance_factory=lambda: glance)
    ref = img.ImageRef(id=image["id"])
    os.makedirs(cache.base_dir)
    at = os.path.join(cache.base_dir, img.base_name(image["id"]) + ".part")
    plant(kind, at, canaries.make("secret"), canaries)
    canaries.reset()
    failure = within(DEADLINE, lambda: cache.ensure(ref), release_fifo(at))
    assert isinstance(failure, NovaopsError), "accepted: %r" % failure
    assert canaries.problems() == []


@pytest.mark.parametrize("kind", KINDS)
def test_an_image_file_that_is_a_plant_is_refused_unread(tmp_path, qimg, canaries, kind):
    (tmp_path / "images").mkdir()
    at = str(tmp_path / "images" / "image.qcow2")
    plant(kind, at, canaries.make("secret"), canaries)
    canaries.reset()
    failure = within(DEADLINE, lambda: img.ImageCache(str(tmp_path / "inst"), qimg).ensure(
        img.ImageRef(path=at)), release_fifo(at))
    assert isinstance(failure, NovaopsError) and "image.path" in failure.msg, failure
    assert canaries.problems() == []


def test_instances_path_through_a_link_is_refused(tmp_path, qimg, image_file):
    (tmp_path / "real").mkdir()
    os.symlink(str(tmp_path / "real"), str(tmp_path / "inst"))
    with pytest.raises(NovaopsError, match="symbolic link"):
        img.ImageCache(str(tmp_path / "inst"), qimg).ensure(img.ImageRef(path=image_file))
    assert os.listdir(str(tmp_path / "real")) == []


# -- item 5: images that name other files, probed with a format and a wall-clock limit -------------
def vmdk_descriptor(path, extent):
    with open(path, "w") as handle:
        handle.write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                     'createType="monolithicFlat"\n\n# Extent description\nRW 2048 FLAT "%s" 0\n\n'
                     'ddb.virtualHWVersion = "4"\n' % extent)


def test_a_vmdk_descriptor_naming_a_host_file_is_refused_before_qemu_img_opens_it(tmp_path, qimg, canaries):
    shadow = canaries.make("shadow", b"root:$6$secret:19000:0:99999:7:::\n" + b"\0" * 1048576)
    evil = str(tmp_path / "evil.vmdk")
    vmdk_descriptor(evil, shadow)
    cache = img.ImageCache(str(tmp_path / "inst"), qimg)
    with pytest.raises(NovaopsError, match="vmdk descriptor"):
        cache.ensure(img.ImageRef(path=evil, raw=True))
    assert canaries.problems() == []
    assert os.listdir(cache.base_dir) == []


def test_a_vmdk_whose_extent_is_a_fifo_is_refused_at_once(tmp_path, qimg):
    fifo = str(tmp_path / "extent")
    os.mkfifo(fifo)
    evil = str(tmp_path / "evil.vmdk")
    vmdk_descriptor(evil, fifo)
    cache = img.ImageCache(str(tmp_path / "inst"), qimg)
    failure = within(DEADLINE, lambda: cache.ensure(img.ImageRef(path=evil, raw=True)), release_fifo(fifo))
    assert isinstance(failure, NovaopsError) and "vmdk" in failure.msg, failure


def test_qemu_img_info_of_an_untrusted_image_has_a_wall_clock_limit(tmp_path, qimg, monkeypatch):
    """Were a hanging image ever let through, qemu-img would be stopped: here one is handed straight
    to qemu-img info (-f vmdk), bypassing the check that refuses it."""
    fifo = str(tmp_path / "extent")
    os.mkfifo(fifo)
    evil = str(tmp_path / "evil.vmdk")
    vmdk_descriptor(evil, fifo)
    monkeypatch.setattr(diskops, "UNTRUSTED_INFO_SECONDS", 2)
    failure = within(DEADLINE, lambda: qimg.info(evil, "vmdk", untrusted=True), release_fifo(fifo))
    assert isinstance(failure, NovaopsError) and "did not finish within 2 seconds" in failure.msg, failure


def test_a_qcow2_with_an_external_data_file_is_refused_before_qemu_img_opens_it(tmp_path, qimg, canaries):
    """The check that was there before #18 (kept): now made on the bytes, before qemu-img runs."""
    data_file = str(tmp_path / "outside" / "data")
    evil = str(tmp_path / "evil.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "data_file=%s" % data_file, evil, "1M"],
                   check=True)
    os.unlink(data_file)
    canaries.make("data", b"\xee" * 1048576)      # the host file the image names
    cache = img.ImageCache(str(tmp_path / "inst"), qimg)
    with pytest.raises(NovaopsError, match="external data file"):
        cache.ensure(img.ImageRef(path=evil))
    assert canaries.problems() == []


def test_qemu_img_never_guesses_a_format(tmp_path, qimg, image_file):
    cache = img.ImageCache(str(tmp_path / "inst"), qimg)
    ref = img.ImageRef(path=image_file, raw=True)
    cache.ensure(ref)
    cache.ensure(ref)
    from ansible_collections.novaops.compute.plugins.module_utils.common.confined import Root
    cache.create_overlay(img.base_name(ref.image_id), Root(str(tmp_path), "t"), "disk")
    calls = [argv[argv.index(qimg.qemu_img):] for argv in qimg.calls]
    assert calls and all("-f" in argv for argv in calls), calls
    untrusted = [argv for argv in qimg.calls if argv[0] != qimg.qemu_img]
    assert untrusted and all("--kill-after=5" in argv for argv in untrusted)     # wall clock (coreutils' timeout)


@pytest.mark.parametrize("fmt, options", [("vpc", []), ("vmdk", ["-o", "subformat=monolithicSparse"])])
def test_vhd_and_monolithic_sparse_vmdk_are_converted_to_raw(tmp_path, qimg, fmt, options):
    src = str(tmp_path / ("src." + fmt))
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt] + options + [src, "4M"], check=True)
    cache = img.ImageCache(str(tmp_path / "inst"), qimg)
    with pytest.raises(NovaopsError, match="raw: true"):
        cache.ensure(img.ImageRef(path=src))
    assert cache.ensure(img.ImageRef(path=src, raw=True))["format"] == "raw"


# -- 7f: checksums -----------------------------------------------------------------------------
@pytest.mark.parametrize("checksum", ["shake_128:00", "shake_256:00", "sha256:00", "sha256:" + "z" * 64, "sm3:00"])
def test_a_checksum_that_cannot_verify_is_refused_naming_the_option(checksum):
    with pytest.raises(NovaopsError, match=r"rescue_image\.checksum") as refused:
        img.ImageRef(path="/nonexistent/image.qcow2", checksum=checksum, option="rescue_image")
    assert "Traceback" not in refused.value.msg


def test_fixed_size_checksums_verify(tmp_path, qimg, image_file):
    data = open(image_file, "rb").read()
    for algo in ("sha512", "blake2b", "sha3_256"):
        cache = img.ImageCache(str(tmp_path / algo), qimg)
        facts = cache.ensure(img.ImageRef(path=image_file, checksum="%s:%s" % (algo, hashlib.new(algo, data).hexdigest())))
        assert facts["verified_by"] == algo


# -- 7e: credentials in URLs ------------------------------------------------------------------------
def test_an_image_url_is_shown_without_its_credentials(tmp_path, qimg):
    url = "http://bi-user:bi-s3cr3t@127.0.0.1:1/image.qcow2?X-Amz-Signature=bi-sig0&part=1"
    ref = img.ImageRef(url=url)
    assert "bi-s3cr3t" not in repr(ref.describe()) and "bi-sig0" not in repr(ref.describe())
    assert ref.describe()["id"] == "http://***@127.0.0.1:1/image.qcow2?X-Amz-Signature=***&part=1"
    with pytest.raises(NovaopsError) as failed:
        img.ImageCache(str(tmp_path / "inst"), qimg).ensure(ref)
    assert "bi-s3cr3t" not in failed.value.msg and "bi-sig0" not in failed.value.msg and "127.0.0.1:1" in failed.value.msg
    with pytest.raises(NovaopsError) as bad:
        img.ImageRef(url="ftp://bi-user:bi-s3cr3t@127.0.0.1/x")
    assert "bi-s3cr3t" not in bad.value.msg


def test_a_glance_endpoint_is_shown_without_its_credentials():
    glance = GlanceClient("http://bi-user:bi-s3cr3t@127.0.0.1:1/v2", timeout=5)
    with pytest.raises(NovaopsError) as failed:
        glance.get_image("x")
    assert "bi-s3cr3t" not in failed.value.msg and "bi-s3cr3t" not in repr(failed.value.facts)
    assert "http://127.0.0.1:1" in failed.value.msg
    with pytest.raises(NovaopsError) as bad:
        GlanceClient("gopher://bi-user:bi-s3cr3t@127.0.0.1:1")
    assert "bi-s3cr3t" not in bad.value.msg

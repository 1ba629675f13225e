"""The dom0 ``glance`` plugin (files/xapi.d/plugins/glance) run by a private simulator through
host.call_plugin, against the real Glance bed and against small local HTTP servers that
refuse or drop an upload, or serve a hostile tarball."""

import hashlib
import http.server
import io
import json
import os
import socketserver
import subprocess
import tarfile
import threading
import time
import urllib.request

import pytest

from conftest import QuietHandler, plugin_call, plugin_failure, plugin_pool_fixtures
from xapisim.testkit import MiB, beds_env, layered_chain
from xapisim.vhd import VHD

GLANCE_HEADERS = {"X-Roles": "admin", "X-Tenant-Id": "novaops-tests"}

pool, x = plugin_pool_fixtures("pool-glance")


def glance_url():
    try:
        return beds_env("NOVAOPS_GLANCE_URL")["NOVAOPS_GLANCE_URL"]
    except LookupError as exc:
        pytest.fail("No Glance bed: %s" % exc)


def glance(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(glance_url() + path, method=method, headers=dict(GLANCE_HEADERS))
    if body is not None:
        req.data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = resp.read()
    return json.loads(data) if data[:1] == b"{" else data


@pytest.fixture
def image():
    img = glance("POST", "/v2/images", {"name": "plugin-test", "disk_format": "vhd", "container_format": "ovf"})
    yield img["id"]
    try:
        glance("DELETE", "/v2/images/%s" % img["id"])
    except Exception:
        pass


def make_chain(pool, x, size=8 * MiB):
    """A snapshot with data in its layers (GC stalled); returns (snapshot ref, chain leaf first, its bytes)."""
    pool.sim("gc_stall", True)
    return layered_chain(x, pool.sr_dir(), size)


def call(x, fn, **args):
    return plugin_call(x, "glance", fn, **args)


def failure(x, fn, **args):
    return plugin_failure(x, "glance", fn, **args)


def staging_left(pool):
    root = os.path.join(pool.sr_dir(), ".novaops-staging")
    return [n for n in os.listdir(root) if n.startswith("glance-")] if os.path.isdir(root) else []


def gap_tarball():
    """A tarball of 0.vhd and 2.vhd: a chain with a gap, refused once downloaded."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("0.vhd", "2.vhd"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"data"))
    return buf.getvalue()


def upload_args(pool, chain, image_id, url=None, **extra):
    args = dict(sr_path=pool.sr_dir(), vdi_uuids=json.dumps(chain), image_id=image_id,
                glance_url=url or glance_url(), headers=json.dumps(GLANCE_HEADERS))
    args.update(extra)
    return args


def upload_failure(pool, x, image_id, url, size=8 * MiB):
    """upload_vhd's Failure details for a fresh chain sent to ``url``; it left the staging area empty."""
    _snap, chain, _data = make_chain(pool, x, size)
    details = failure(x, "upload_vhd", **upload_args(pool, chain, image_id, url=url))
    assert staging_left(pool) == []
    return details


def sr_vhds(pool):
    return sorted(n for n in os.listdir(pool.sr_dir()) if n.endswith(".vhd"))


def download_args(pool, url):
    return dict(sr_path=pool.sr_dir(), image_id="img", glance_url=url, headers="{}")


def download_failure(pool, x, url):
    """download_vhd's Failure details for image "img" of the Glance at ``url``; it left the SR's files and the
    staging area as they were."""
    before = sr_vhds(pool)
    details = failure(x, "download_vhd", **download_args(pool, url))
    assert sr_vhds(pool) == before
    assert staging_left(pool) == []
    return details


def serve_chain(pool, x, handler):
    """A fresh chain's tarball as the fake Glance's image data, its checksum recorded; returns the chain."""
    _snap, chain, _data = make_chain(pool, x)
    handler.payload = chain_tarball(pool, chain)
    handler.record = {"checksum": hashlib.md5(handler.payload).hexdigest()}
    return chain


@pytest.mark.parametrize("compress", [False, True])
def test_upload_then_download_roundtrip(pool, x, image, compress):
    _snap, chain, data = make_chain(pool, x)
    assert len(chain) == 3
    out = call(x, "upload_vhd", **upload_args(pool, chain, image, compress=compress))
    record = glance("GET", "/v2/images/%s" % image)
    assert record["status"] == "active"
    assert record["size"] == out["bytes"]
    assert record["checksum"] == out["checksum"]
    assert out["vhds"] == 3 and out["duration"] >= 0
    raw = glance("GET", "/v2/images/%s/file" % image)
    assert hashlib.md5(raw).hexdigest() == out["checksum"]
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        assert tar.getnames() == ["0.vhd", "1.vhd", "2.vhd"]
    assert staging_left(pool) == []
    # back into the SR as a fresh chain that reads the same bytes; a compressed image unpacks to
    # no size Glance declares: the caller declares it (here: exactly what the chain's files hold)
    vhd_bytes = sum(os.path.getsize(os.path.join(pool.sr_dir(), u + ".vhd")) for u in chain)
    declared = dict(max_bytes=vhd_bytes) if compress else {}
    got = call(x, "download_vhd", sr_path=pool.sr_dir(), image_id=image, glance_url=glance_url(),
               headers=json.dumps(GLANCE_HEADERS), **declared)
    assert len(got["chain"]) == 3 and not set(got["chain"]) & set(chain)
    assert got["bytes"] == record["size"]
    leaf = x.VDI.get_by_uuid(got["root"]["uuid"])
    assert x.VDI.get_sm_config(leaf).get("vhd-parent") == got["chain"][1]
    assert x.VDI.get_managed(leaf)
    with VHD.open(os.path.join(pool.sr_dir(), got["root"]["uuid"] + ".vhd")) as v:
        assert v.read(0, len(data)) == data
    assert staging_left(pool) == []
    # the GC stalled until here: its 0.3 s delay would coalesce the imported middle (a hidden VHD with one
    # child, as SM's GC does) under the assertions on a loaded machine
    pool.sim("gc_stall", False)


def test_arguments_confined(pool, x):
    bad = upload_args(pool, ["../../etc/passwd"], "abc")
    assert failure(x, "upload_vhd", **bad)[0] == "NOVAOPS_PATH_REFUSED"
    assert failure(x, "upload_vhd", **upload_args(pool, ["not-a-uuid"], "abc"))[0] == "NOVAOPS_BAD_ARGUMENT"
    args = upload_args(pool, ["00000000-0000-0000-0000-000000000000"], "abc")
    args["sr_path"] = pool.sr_dir() + "/../" + pool.sr_uuid
    assert failure(x, "upload_vhd", **args)[0] == "NOVAOPS_PATH_REFUSED"
    args = upload_args(pool, ["00000000-0000-0000-0000-000000000000"], "abc")
    assert failure(x, "upload_vhd", **args)[0] == "NOVAOPS_VDI_MISSING"
    args = upload_args(pool, ["00000000-0000-0000-0000-000000000000"], "abc")
    args["sr_path"] = "/etc"
    assert failure(x, "upload_vhd", **args)[0] == "NOVAOPS_PATH_REFUSED"
    assert failure(x, "download_vhd", sr_path=pool.sr_dir(), image_id="abc", glance_url="ftp://x",
                   headers="{}")[0] == "NOVAOPS_BAD_ARGUMENT"
    assert staging_left(pool) == []


def test_a_vhd_that_is_a_link_out_of_the_sr_is_not_streamed(pool, x):
    """#13 security review: a <uuid>.vhd symlink in the SR (to a host file) is refused, not read and sent."""
    vdi_uuid = "6b8b4567-327b-4c23-9e10-0123456789ab"
    link = os.path.join(pool.sr_dir(), vdi_uuid + ".vhd")
    os.symlink("/etc/hostname", link)
    try:
        assert failure(x, "upload_vhd", **upload_args(pool, [vdi_uuid], "abc"))[0] == "NOVAOPS_PATH_REFUSED"
    finally:
        os.remove(link)
    assert staging_left(pool) == []


class _Fake(http.server.BaseHTTPRequestHandler):
    mode = "drop"
    payload = b""
    record = {}         # fields of the image record over {status, size}
    received = 0

    def log_message(self, *a):
        pass

    def do_PUT(self):
        if self.mode == "refuse":
            body = b"403 Forbidden: uploads disabled"
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        got = 0
        while got < 2 * MiB:              # read a little, then die
            line = self.rfile.readline()
            if not line:
                break
            n = int(line.strip() or b"0", 16)
            if n == 0:
                break
            self.rfile.read(n + 2)
            got += n
        type(self).received = got
        self.connection.shutdown(2)
        self.connection.close()

    def do_GET(self):
        body = self.payload
        if not self.path.endswith("/file"):        # the image record: its size is what is served
            body = json.dumps(dict({"status": "active", "size": len(self.payload)}, **self.record)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.mode == "cut" and self.path.endswith("/file"):    # Glance killed mid-stream
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            self.connection.close()
            return
        self.wfile.write(body)


@pytest.fixture
def fake():
    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
    handler = type("Handler", (_Fake,), {})
    srv = Server(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield handler, "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_upload_dropped_half_way(pool, x, fake):
    _handler, url = fake
    details = upload_failure(pool, x, "img-1", url, size=32 * MiB)
    assert details[0] == "NOVAOPS_GLANCE_UPLOAD_FAILED", details
    assert "connection lost" in details[2] or "no answer" in details[2]


def test_upload_refused(pool, x, fake):
    handler, url = fake
    handler.mode = "refuse"
    details = upload_failure(pool, x, "img-2", url)
    assert details[0] == "NOVAOPS_GLANCE_UPLOAD_FAILED", details
    assert "403" in " ".join(details)


def test_upload_unreachable(pool, x):
    from conftest import free_port
    details = upload_failure(pool, x, "img-3", "http://127.0.0.1:%d" % free_port())
    assert details[0] == "NOVAOPS_GLANCE_UNREACHABLE", details


class _Flaky(QuietHandler):
    """A Glance that answers the first ``failures`` uploads with 503 (after reading them), then
    takes them; its image record says ``image_status``."""
    protocol_version = "HTTP/1.1"
    failures = 1
    image_status = "queued"
    payload = b""       # the image data GET answers with, after ``failures`` 503s
    puts = []           # md5 of each PUT's body
    gets = 0            # GETs of the image data

    def do_PUT(self):
        md5 = hashlib.md5()
        while True:
            n = int(self.rfile.readline().strip() or b"0", 16)
            if n == 0:
                self.rfile.readline()
                break
            md5.update(self.rfile.read(n))
            self.rfile.read(2)
        type(self).puts.append(md5.hexdigest())
        if len(self.puts) <= self.failures:
            self._answer(503, b"503 Service Unavailable")
        else:
            self._answer(204)

    def do_GET(self):
        if not self.path.endswith("/file"):
            self._answer(200, json.dumps({"status": self.image_status, "size": len(self.payload)}).encode())
            return
        type(self).gets += 1
        self._answer(503 if self.gets <= self.failures else 200, b"503" if self.gets <= self.failures else self.payload)


@pytest.fixture
def flaky():
    handler = type("Handler", (_Flaky,), {"puts": [], "gets": 0})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield handler, "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_upload_503_once_is_sent_again_from_the_start(pool, x, flaky):
    """#13: a one-off 5xx while the image is still queued: the whole tar again, once."""
    handler, url = flaky
    _snap, chain, _data = make_chain(pool, x)
    out = call(x, "upload_vhd", **upload_args(pool, chain, "img-4", url=url))
    assert out["attempts"] == 2 and len(handler.puts) == 2
    assert handler.puts[0] == handler.puts[1] == out["checksum"]
    assert staging_left(pool) == []


def test_upload_503_for_ever_is_bounded(pool, x, flaky):
    handler, url = flaky
    handler.failures = 100
    _snap, chain, _data = make_chain(pool, x)
    started = time.monotonic()
    details = failure(x, "upload_vhd", **upload_args(pool, chain, "img-5", url=url))
    took = time.monotonic() - started
    assert details[0] == "NOVAOPS_GLANCE_UPLOAD_FAILED" and "503" in details[2], details
    assert len(handler.puts) == 4 and 3.5 <= took < 30
    assert staging_left(pool) == []


def test_upload_not_sent_again_once_glance_kept_data(pool, x, flaky):
    """A 5xx after Glance took data (the image is no longer queued): a repeat could not make it whole."""
    handler, url = flaky
    handler.image_status = "saving"
    details = upload_failure(pool, x, "img-6", url)
    assert details[0] == "NOVAOPS_GLANCE_UPLOAD_FAILED" and "503" in details[2], details
    assert len(handler.puts) == 1


def test_download_503_once_is_asked_again(pool, x, flaky):
    """The GET of the image data answered 503 once: asked again (a tarball with a gap, refused as such)."""
    handler, url = flaky
    handler.payload = gap_tarball()
    details = download_failure(pool, x, url)
    assert details[0] == "NOVAOPS_STAGING_INVALID" and handler.gets == 2, details


@pytest.mark.parametrize("member", ["../evil.vhd", "/etc/x.vhd", "notes.txt", "0.vhd->link"])
def test_download_refuses_hostile_tarball(pool, x, fake, member):
    handler, url = fake
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if member.endswith("->link"):
            info = tarfile.TarInfo("0.vhd")
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
        else:
            info = tarfile.TarInfo(member)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    handler.payload = buf.getvalue()
    details = download_failure(pool, x, url)
    assert details[0] == "NOVAOPS_BAD_TARBALL", details
    assert not os.path.exists(os.path.join(os.path.dirname(pool.sr_dir()), "evil.vhd"))


def test_download_refuses_gaps(pool, x, fake):
    handler, url = fake
    handler.payload = gap_tarball()
    details = download_failure(pool, x, url)
    assert details[0] == "NOVAOPS_STAGING_INVALID" and "gaps" in details[2], details


def chain_tarball(pool, chain):
    """The tarball xen_snapshot would send of ``chain`` (leaf first), built here from the SR's files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for seq, vdi_uuid in enumerate(chain):
            tar.add(os.path.join(pool.sr_dir(), vdi_uuid + ".vhd"), arcname="%d.vhd" % seq)
    return buf.getvalue()


def corrupted(payload):
    """The payload with one byte of VHD data changed (past the first member's header and footer copy)."""
    data = bytearray(payload)
    data[2048 + 512 * 8] ^= 0xFF
    return bytes(data)


def digests(data, *keys):
    """The record's digests of ``data``: md5 ``checksum`` and/or sha512 ``os_hash_value``."""
    record = {}
    if "checksum" in keys:
        record["checksum"] = hashlib.md5(data).hexdigest()
    if "os_hash_value" in keys:
        record.update(os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest())
    return record


# (what the record holds, what the refusal names): the data is one byte off what Glance recorded
CORRUPT_CASES = {
    # Glance's usual record: its os_hash_value (sha512) is what is verified
    "multihash": (("checksum", "os_hash_value"), "os_hash_value"),
    # no multihash (an image older than Glance's Rocky): the md5 checksum is
    "md5 only": (("checksum",), "checksum"),
    # a multihash of an algorithm this Python has not: md5 instead, as glanceclient's allow_md5_fallback
    "unknown os_hash_algo": (("checksum",), "checksum"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_CASES))
def test_download_refuses_data_glance_did_not_record(pool, x, fake, case):
    """#24: the data changed under Glance's digest: refused before any of it reaches the SR, the staging
    area empty, whichever digest python-glanceclient's rule verifies; the untouched data imports."""
    handler, url = fake
    _snap, chain, _data = make_chain(pool, x)
    good = chain_tarball(pool, chain)
    keys, refused_by = CORRUPT_CASES[case]
    handler.record = digests(good, *keys)
    if case == "unknown os_hash_algo":
        handler.record.update(os_hash_algo="nosuchhash", os_hash_value="00" * 32)
    handler.payload = corrupted(good)
    details = download_failure(pool, x, url)
    assert details[:3] == ["NOVAOPS_IMAGE_CORRUPT", "img", refused_by], details
    handler.payload = good
    got = call(x, "download_vhd", **download_args(pool, url))
    assert got["verified"] == refused_by and got[refused_by] == handler.record[refused_by]
    assert len(got["chain"]) == len(chain)


@pytest.mark.parametrize("what", ["os_hash_value", "size"])
def test_download_refuses_a_record_the_data_does_not_match(pool, x, fake, what):
    """Glance's os_hash_value (its md5 right) or its size says other than the data: refused."""
    handler, url = fake
    _snap, chain, _data = make_chain(pool, x)
    good = chain_tarball(pool, chain)
    handler.payload, handler.record = good, digests(good, "checksum", "os_hash_value")
    if what == "os_hash_value":
        handler.record["os_hash_value"] = hashlib.sha512(b"other").hexdigest()
    else:
        handler.payload = good + bytes(tarfile.RECORDSIZE)      # more end blocks than Glance's size says
        handler.record["size"] = len(good)
    details = download_failure(pool, x, url)
    assert details[0] in ("NOVAOPS_IMAGE_CORRUPT", "NOVAOPS_IMAGE_TOO_LARGE"), details
    if what != "size":
        assert details[1:3] == ["img", what], details


def test_download_verifies_the_multihash_not_md5(pool, x, fake):
    """python-glanceclient's rule: with an os_hash_value on the record, md5 is not consulted (a stale
    checksum beside a right sha512 imports), and md5 is not even computed (the result has no checksum)."""
    handler, url = fake
    _snap, chain, _data = make_chain(pool, x)
    good = chain_tarball(pool, chain)
    handler.payload = good
    handler.record = dict(digests(good, "os_hash_value"), checksum=hashlib.md5(b"other").hexdigest())
    got = call(x, "download_vhd", **download_args(pool, url))
    assert got["verified"] == "os_hash_value" and got["os_hash_value"] == handler.record["os_hash_value"]
    assert "checksum" not in got and len(got["chain"]) == len(chain)


def test_download_scan_failure_leaves_no_file_in_the_sr(pool, x, fake):
    """#24: SR.scan fails after the chain moved into the SR: its files are taken out again (no VDI a
    later scan would find unmarked); the run again imports it."""
    handler, url = fake
    chain = serve_chain(pool, x, handler)
    before = sr_vhds(pool)
    pool.sim("fault_add", "SR.scan", ["SR_BACKEND_FAILURE_40", "", "The SR scan failed", ""], 1, 1)
    details = download_failure(pool, x, url)
    assert "SR_BACKEND_FAILURE_40" in json.dumps(details), details
    got = call(x, "download_vhd", **download_args(pool, url))
    assert len(set(sr_vhds(pool)) - set(before)) == len(got["chain"]) == len(chain)


def test_download_cut_mid_stream_leaves_nothing(pool, x, fake):
    """#24: Glance dies half way through the image data: a clear failure, nothing in the SR, the staging area
    empty; the run again imports it."""
    handler, url = fake
    chain = serve_chain(pool, x, handler)
    handler.mode = "cut"
    details = download_failure(pool, x, url)
    assert details[0] == "NOVAOPS_GLANCE_DOWNLOAD_FAILED", details
    handler.mode = "serve"
    got = call(x, "download_vhd", **download_args(pool, url))
    assert len(got["chain"]) == len(chain)


def test_download_into_a_full_sr_says_so_and_leaves_nothing(pool, x, fake):
    """#24: the SR's filesystem fills up mid-download (a 1 MiB tmpfs over the staging root: the free-space
    check before the download reads the SR's own filesystem and passes): NOVAOPS_SR_FULL with the bytes that
    had arrived, nothing in the SR, the staging area empty; with room again the run imports it."""
    handler, url = fake
    chain = serve_chain(pool, x, handler)
    assert len(handler.payload) > 2 * MiB
    root = os.path.join(pool.sr_dir(), ".novaops-staging")
    os.makedirs(root, mode=0o700, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "novaops-test-srfull", root], check=True)
    try:
        details = download_failure(pool, x, url)
        assert details[:2] == ["NOVAOPS_SR_FULL", os.path.realpath(pool.sr_dir())], details
        assert MiB <= int(details[2]) <= len(handler.payload), details
        assert os.listdir(root) == []
    finally:
        subprocess.run(["umount", root], check=True)
    got = call(x, "download_vhd", **download_args(pool, url))
    assert len(got["chain"]) == len(chain)

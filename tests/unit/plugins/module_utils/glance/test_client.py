# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""glance.py against a small in-process Glance v2 that decodes chunked uploads as Glance does."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import uuid

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.glance import client as gl
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError


class FakeGlance(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.images = {}
        self.data = {}
        self.uploads = []     # (transfer-encoding, number of chunks)
        self.headers_seen = []
        self.corrupt = False
        self.refused = set()  # tokens answered 401, as keystonemiddleware answers an expired one
        self.refused_put = set()  # ... on an upload only (the token ran out just before it)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.server.uploads.append(("chunked", len(chunks)))
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def do_POST(self):
        self.server.headers_seen.append(dict(self.headers))
        body = json.loads(self._body())
        image = dict(body, id=body.get("id") or str(uuid.uuid4()), status="queued", size=None, checksum=None,
                     os_hash_algo=None, os_hash_value=None)
        self.server.images[image["id"]] = image
        self._json(201, image)

    def _refused(self, body=False):
        refused = self.server.refused | (self.server.refused_put if self.command == "PUT" else set())
        if self.headers.get("X-Auth-Token") not in refused:
            return False
        if body:
            self._body()
        self._json(401, dict(message="The request you have made requires authentication."))
        return True

    def do_GET(self):
        self.server.headers_seen.append(dict(self.headers))
        if self._refused():
            return None
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["v2", "images"]:
            from urllib.parse import parse_qs
            query = dict((k, v[0]) for k, v in parse_qs(self.path.partition("?")[2]).items() if k != "limit")
            found = [i for i in self.server.images.values() if all(str(i.get(k)) == v for k, v in query.items())]
            return self._json(200, dict(images=found))
        image = self.server.images.get(parts[2]) if len(parts) > 2 else None
        if image is None:
            return self._json(404, dict(message="not found"))
        if len(parts) == 4 and parts[3] == "file":
            data = self.server.data[image["id"]]
            if self.server.corrupt:
                data = b"x" + data[1:]
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        return self._json(200, image)

    def do_PUT(self):
        if self._refused(body=True):
            return
        parts = self.path.strip("/").split("/")
        image = self.server.images.get(parts[2])
        data = self._body()
        self.server.data[image["id"]] = data
        image.update(status="active", size=len(data), checksum=hashlib.md5(data).hexdigest(),
                     os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest())
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PATCH(self):
        parts = self.path.strip("/").split("/")
        image = self.server.images[parts[2]]
        for op in json.loads(self._body()):
            image[op["path"].lstrip("/")] = op["value"]
        self._json(200, image)

    def do_DELETE(self):
        parts = self.path.strip("/").split("/")
        if self.server.images.pop(parts[2], None) is None:
            return self._json(404, dict(message="not found"))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None


@pytest.fixture
def server():
    srv = FakeGlance()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def client(server, **kwargs):
    kwargs.setdefault("project_id", "p1")
    kwargs.setdefault("roles", ["admin"])
    return gl.GlanceClient(server.url + "/v2/", chunk_size=4096, **kwargs)


class CountingReader(io.RawIOBase):
    """A file that records the largest read, to prove the upload never reads it whole."""

    def __init__(self, data):
        self.buf = io.BytesIO(data)
        self.largest = 0

    def readable(self):
        return True

    def read(self, size=-1):
        self.largest = max(self.largest, size if size >= 0 else 1 << 62)
        return self.buf.read(size)


def test_create_upload_chunked_streamed_and_verified(server):
    glance = client(server)
    image = glance.create_image("snap1", disk_format="qcow2", instance_uuid="u-1")
    data = bytes(range(256)) * 200           # 51200 bytes, 13 chunks of 4096
    reader = CountingReader(data)
    result = glance.upload(image["id"], reader)
    assert reader.largest == 4096
    assert server.uploads == [("chunked", 13)]
    assert result["bytes"] == len(data) and result["verified_by"] == "os_hash_value"
    assert result["checksum"] == hashlib.md5(data).hexdigest()
    assert result["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert result["image"]["status"] == "active" and "duration" in result
    assert server.headers_seen[0]["X-Roles"] == "admin" and server.headers_seen[0]["X-Tenant-Id"] == "p1"


def test_upload_from_a_path_and_download_roundtrip(server, tmp_path):
    src = tmp_path / "src.img"
    src.write_bytes(b"\xab" * 10000)
    glance = client(server)
    image = glance.create_image("img")
    glance.upload(image["id"], str(src))
    dest = tmp_path / "dest.img"
    result = glance.download(image["id"], str(dest))
    assert dest.read_bytes() == src.read_bytes()
    assert result["bytes"] == 10000 and result["verified_by"] == "os_hash_value"


def test_a_corrupt_download_is_refused(server, tmp_path):
    glance = client(server)
    image = glance.create_image("img")
    glance.upload(image["id"], io.BytesIO(b"data" * 100))
    server.corrupt = True
    with pytest.raises(NovaopsError, match="os_hash_value"):
        glance.download(image["id"], str(tmp_path / "x"))


def test_find_by_name_and_property_and_delete(server):
    glance = client(server)
    a = glance.create_image("snap", instance_uuid="u-1")
    glance.create_image("snap", instance_uuid="u-2")
    assert glance.find_image("snap", dict(instance_uuid="u-1"))["id"] == a["id"]
    assert glance.find_image("other") is None
    with pytest.raises(NovaopsError, match="2 Glance images are named 'snap'"):
        glance.find_image("snap")
    glance.update_properties(a["id"], dict(state="done"))
    assert glance.get_image(a["id"])["state"] == "done"
    assert glance.delete_image(a["id"]) is True
    assert glance.delete_image(a["id"]) is False
    assert glance.get_image(a["id"], required=False) is None
    with pytest.raises(gl.GlanceError, match="no image"):
        glance.get_image(a["id"])


def test_a_token_is_sent_and_errors_are_clear(server):
    glance = gl.GlanceClient(server.url, token="secret-token")
    glance.list_images()
    assert server.headers_seen[-1]["X-Auth-Token"] == "secret-token"
    with pytest.raises(NovaopsError, match="not an http"):
        gl.GlanceClient("ftp://x")
    with pytest.raises(NovaopsError, match="No Glance endpoint"):
        gl.GlanceClient(None)
    with pytest.raises(gl.GlanceError, match="unreachable"):
        gl.GlanceClient("http://127.0.0.1:9", timeout=2).list_images()


def test_verify_image_data_rules():
    data = dict(bytes=3, checksum=hashlib.md5(b"abc").hexdigest())
    assert gl.verify_image_data(dict(id="i", size=3, checksum=data["checksum"]), data) == "checksum"
    with pytest.raises(NovaopsError, match="got 3 bytes"):
        gl.verify_image_data(dict(id="i", size=4, checksum=data["checksum"]), data)
    with pytest.raises(NovaopsError, match="neither"):
        gl.verify_image_data(dict(id="i"), data)


def test_argument_spec_marks_the_token_no_log():
    spec = gl.glance_argument_spec().argument_spec["glance"]["options"]
    assert spec["token"]["no_log"] is True


class FakeCloudAuth:
    """A cloud's authentication as the client uses it: a token until invalidated, then the next one."""
    sends_token = True

    def __init__(self):
        self.issued = 1

    def headers(self):
        return {"X-Auth-Token": "t%d" % self.issued}

    def invalidate(self):
        self.issued += 1


def test_a_token_glance_refuses_is_renewed_once(server):
    auth = FakeCloudAuth()
    glance = gl.GlanceClient(server.url, auth=auth)
    image = glance.create_image("img")
    server.refused.add("t1")
    assert glance.get_image(image["id"])["id"] == image["id"]
    assert auth.issued == 2
    server.refused.add("t2")
    server.refused.add("t3")
    with pytest.raises(gl.GlanceError) as failed:     # a refused new token is the answer
        glance.get_image(image["id"])
    assert failed.value.status == 401 and auth.issued == 3


def test_an_upload_whose_token_ran_out_is_sent_again_whole(server):
    auth = FakeCloudAuth()
    glance = gl.GlanceClient(server.url, auth=auth, chunk_size=4096)
    image = glance.create_image("img")
    data = bytes(range(256)) * 100
    server.refused_put.add("t1")
    result = glance.upload(image["id"], io.BytesIO(data))
    assert result["bytes"] == len(data) and result["verified_by"] == "os_hash_value"
    assert server.data[image["id"]] == data and auth.issued == 2


def test_a_static_token_refused_is_not_sent_again(server):
    glance = gl.GlanceClient(server.url, token="t1")
    image = glance.create_image("img")
    server.refused.add("t1")
    seen = len(server.headers_seen)
    with pytest.raises(gl.GlanceError, match="401"):
        glance.get_image(image["id"])
    assert len(server.headers_seen) == seen + 1

"""Test helper for the xen_snapshot target.

  write <vdi_uuid> [seed]          known bytes into pool a's VDI (VM halted), through the VHD library;
                                   another seed, other bytes (one disk's from another's)
  read  <pool> <vdi_uuid> [seed]   sha256 of the known ranges (and some untouched ones) through the chain
  snapshots <vdi_uuid>             how many snapshot VDIs of that VDI exist on pool a
  download <image_id>              glance.download_vhd into pool b; prints the plugin's JSON
  forget <pool> <vdi_uuid>         destroy an imported leaf (the GC removes its hidden parents)
  proxy <port> <drop|refuse> <pidfile>   a Glance that forwards all but the upload, which it
                                   drops half way or refuses
"""

import hashlib
import http.client
import http.server
import json
import os
import socketserver
import sys
from urllib.parse import urlsplit

E = os.environ
sys.path.insert(0, os.path.join(os.path.dirname(E["NOVAOPS_BEDS_DIR"]), "tools"))
from xapisim.testkit import login  # noqa: E402
from xapisim.vhd import VHD  # noqa: E402

MiB = 1 << 20
RANGES = [(0, MiB, 1), (3 * MiB + 17, 70000, 2), (700 * MiB, 2 * MiB, 3), (9 * 1024 * MiB, MiB, 4)]
UNTOUCHED = [(5 * MiB, MiB), (4096 * MiB, MiB)]


def pattern(seed, n):
    block = bytes((seed * 31 + i * 7) % 251 for i in range(4096))
    return (block * (n // 4096 + 1))[:n]


def session(pool):
    return login(pool, E, "xen_snapshot-target").xenapi


def path(pool, vdi_uuid):
    return os.path.join(E["XENAPI_POOL_%s_SR_DIR" % pool], vdi_uuid + ".vhd")


def cmd_write(vdi_uuid, seed="0"):
    with VHD.open(path("A", vdi_uuid), writable=True) as v:
        for off, n, base in RANGES:
            v.write(off, pattern(base + int(seed), n))
    return cmd_read("A", vdi_uuid, seed)


def cmd_read(pool, vdi_uuid, seed="0"):
    h = hashlib.sha256()
    with VHD.open(path(pool, vdi_uuid)) as v:
        for off, n, _base in RANGES:
            h.update(v.read(off, n))
        for off, n in UNTOUCHED:
            h.update(v.read(off, n))
        size = v.virtual_size
    expect = hashlib.sha256()
    for off, n, base in RANGES:
        expect.update(pattern(base + int(seed), n))
    for off, n in UNTOUCHED:
        expect.update(bytes(n))
    return {"sha256": h.hexdigest(), "expected": expect.hexdigest(), "virtual_size": size}


def cmd_snapshots(vdi_uuid):
    x = session("A")
    ref = x.VDI.get_by_uuid(vdi_uuid)
    snaps = [r["uuid"] for r in x.VDI.get_all_records().values() if r["is_a_snapshot"] and r["snapshot_of"] == ref]
    return {"count": len(snaps), "uuids": snaps}


def cmd_download(image_id):
    x = session("B")
    host = x.host.get_all()[0]
    args = {"sr_path": E["XENAPI_POOL_B_SR_DIR"], "image_id": image_id, "glance_url": E["NOVAOPS_GLANCE_URL"],
            "headers": json.dumps({"X-Roles": "admin", "X-Tenant-Id": "novaops-tests"})}
    return json.loads(x.host.call_plugin(host, "glance", "download_vhd", args))


def cmd_forget(pool, vdi_uuid):
    x = session(pool)
    x.VDI.destroy(x.VDI.get_by_uuid(vdi_uuid))
    return {"destroyed": vdi_uuid}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "drop"

    def log_message(self, *a):
        pass

    def forward(self):
        target = urlsplit(E["NOVAOPS_GLANCE_URL"])
        body = None
        if self.headers.get("Content-Length"):
            body = self.rfile.read(int(self.headers["Content-Length"]))
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_DELETE = do_PATCH = forward

    def do_PUT(self):
        if not self.path.endswith("/file"):
            return self.forward()
        if self.mode == "refuse":
            body = b"413 Request Entity Too Large: image storage quota exceeded"
            self.send_response(413)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        got = 0
        while got < 64 * 1024:          # take the start of the tarball, then die
            line = self.rfile.readline()
            n = int(line.strip() or b"0", 16)
            if n == 0:
                break
            self.rfile.read(n + 2)
            got += n
        self.connection.shutdown(2)
        self.connection.close()
        self.close_connection = True


def cmd_proxy(port, mode, pidfile):
    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
    Proxy.mode = mode
    srv = Server(("127.0.0.1", int(port)), Proxy)
    with open(pidfile, "w") as fh:
        fh.write(str(os.getpid()))
    srv.serve_forever()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    out = globals()["cmd_" + cmd](*args)
    if out is not None:
        print(json.dumps(out))

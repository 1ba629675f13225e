#!/usr/bin/env python3
"""Throughput of the simulator's disk streaming handlers against ``cat`` of the same bytes.

A private simulator pool (from this checkout, on free ports, in a temporary directory) gets
256 MiB of random bytes by ``curl -T`` to ``PUT /import_raw_vdi`` (format raw, then the same
disk as a VHD stream), and gives them back by ``curl -o`` from ``GET /export_raw_vdi`` (raw and
vhd); each into a fresh VDI, byte-checked.  The peer is ``cat`` copying the same bytes from a
file to a file in the same directory tree.  Best of three each, alternating with cat.  Prints
``RATIO <what> throughput: <ours/cat>`` (above 1: ours is faster).  Needs no beds.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xmlrpc.client

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(REPO, "tools")
sys.path.insert(0, TOOLS)
from xapisim.testkit import file_sha256  # noqa: E402

MiB = 1 << 20
SIZE = 256 * MiB
ROUNDS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp):
    env = dict(os.environ, PYTHONPATH=TOOLS)
    state = os.path.join(tmp, "state")
    proc = subprocess.Popen([sys.executable, "-m", "xapisim", "serve", "--name", "bench-http-vdi",
                             "--port", str(free_port()), "--state-dir", state, "--password", "bench",
                             "--gc-delay", "0.2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        sys.exit("xapisim did not start: %r %s" % (line, proc.stderr.read()))
    with open(os.path.join(state, "ready.json")) as fh:
        return proc, json.load(fh)


def timed(argv):
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main():
    tmp = tempfile.mkdtemp(prefix="bench-xapisim-http-vdi-")
    proc, facts = start(tmp)
    try:
        proxy = xmlrpc.client.ServerProxy(facts["http"])
        session = proxy.session.login_with_password("root", "bench", "1.0", "bench")["Value"]

        def call(method, *args):
            out = getattr(proxy, method)(session, *args)
            if out["Status"] != "Success":
                raise RuntimeError(out["ErrorDescription"])
            return out["Value"]

        sr = call("pool.get_default_SR", call("pool.get_all")[0])

        def new_vdi():
            return call("VDI.create", {"name_label": "bench", "name_description": "", "SR": sr,
                                       "virtual_size": str(SIZE), "type": "user", "sharable": False,
                                       "read_only": False, "other_config": {}})

        def url(path, vdi, fmt):
            return "%s%s?%s" % (facts["http"], path, urllib.parse.urlencode(
                {"vdi": vdi, "session_id": session, "format": fmt}))

        src = os.path.join(tmp, "src.raw")
        with open(src, "wb") as fh:
            for _ in range(SIZE // (4 * MiB)):
                fh.write(os.urandom(4 * MiB))
        want = file_sha256(src)
        src_vhd = os.path.join(tmp, "src.vhd")
        vdi = new_vdi()
        subprocess.run(["curl", "-sSf", "-T", src, url("/import_raw_vdi", vdi, "raw")], check=True)
        subprocess.run(["curl", "-sSf", "-o", src_vhd, url("/export_raw_vdi", vdi, "vhd")], check=True)
        call("VDI.destroy", vdi)
        out = os.path.join(tmp, "out")
        cat_copy = os.path.join(tmp, "cat.copy")

        def cat():
            took = timed(["sh", "-c", 'cat "$0" > "$1"', src, cat_copy])
            os.unlink(cat_copy)
            return took

        def put(fmt, source):
            vdi = new_vdi()
            took = timed(["curl", "-sSf", "-T", source, url("/import_raw_vdi", vdi, fmt)])
            return vdi, took

        def export(vdi, fmt):
            took = timed(["curl", "-sSf", "-o", out, url("/export_raw_vdi", vdi, fmt)])
            return took

        best = {}

        def keep(name, took):
            rate = SIZE / took / MiB
            best[name] = max(best.get(name, 0.0), rate)
            print("  %-11s %.2fs  %5.0f MiB/s" % (name, took, rate), flush=True)

        for _ in range(ROUNDS):
            keep("cat", cat())
            vdi, took = put("raw", src)
            keep("import raw", took)
            keep("export raw", export(vdi, "raw"))
            assert file_sha256(out) == want, "raw export differs"
            keep("export vhd", export(vdi, "vhd"))
            call("VDI.destroy", vdi)
            keep("cat", cat())
            vdi, took = put("vhd", src_vhd)
            keep("import vhd", took)
            export(vdi, "raw")
            assert file_sha256(out) == want, "vhd import differs"
            call("VDI.destroy", vdi)
        for name in ("import raw", "export raw", "import vhd", "export vhd"):
            print("RATIO %s throughput: %.2f (ours %.0f MiB/s / cat %.0f MiB/s, 256 MiB of random bytes, "
                  "curl over HTTP on loopback)" % (name, best[name] / best["cat"], best[name], best["cat"]))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

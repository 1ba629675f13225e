# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A loopback proxy in front of the real Glance that answers 503 when told to, else forwards.

A fault is (method, path regex, where, times): ``before`` answers 503 without forwarding
(the body, chunked or not, is read and dropped: Glance never sees the request), ``after``
forwards it and replaces Glance's answer by a 503 (the request took effect, its answer was
lost), ``always`` is ``before`` for every matching request.  ``seen`` logs every request.
``pace`` streams one matching answer in pieces and, once some of it is out, holds it at a gate:
a fault that must land mid-transfer (the disk filling, the server killed) lands there, however
fast or loaded the machine, never after the transfer is over.
"""

from __future__ import annotations

import http.client
import http.server
import re
import threading
from urllib.parse import urlsplit

PIECE = 64 * 1024
HOP_BY_HOP = ("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "content-length", "host")


class GlanceProxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream):
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port or 80)
        self.faults = []
        self.seen = []            # (method, path, answered status)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def fail(self, method, path_re, where="before", times=1):
        with self.lock:
            self.faults.append(dict(method=method, path=re.compile(path_re), where=where, times=times))

    def pace(self, method, path_re, gate, hold_at):
        """The next matching answer goes out in PIECE-byte pieces; once ``hold_at`` bytes are out (and
        more is to come), ``gate(sent, total)`` runs before the next piece, once.  It may block; when it
        returns "cut", the connection is closed with the rest unsent."""
        with self.lock:
            self.faults.append(dict(method=method, path=re.compile(path_re), where="pace", times=1,
                                    gate=gate, hold_at=hold_at))

    def clear(self):
        with self.lock:
            self.faults = []
            self.seen = []

    def requests(self, method, path_re):
        return [s for s in self.seen if s[0] == method and re.search(path_re, s[1])]

    def take_fault(self, method, path):
        """The fault (its dict) this request meets, counted as used; None when none."""
        with self.lock:
            for fault in self.faults:
                if fault["method"] == method and fault["path"].search(path) and \
                        (fault["where"] == "always" or fault["times"] > 0):
                    if fault["where"] != "always":
                        fault["times"] -= 1
                    return fault
        return None

    def close(self):
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _head(self, status, headers, length):
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _answer(self, status, headers, body):
        self._head(status, headers, len(body))
        self.wfile.write(body)

    def _answer_paced(self, pace, status, headers, body):
        self._head(status, headers, len(body))
        sent, gated = 0, False
        while sent < len(body):
            if not gated and sent >= pace["hold_at"]:
                gated = True
                if pace["gate"](sent, len(body)) == "cut":
                    self.close_connection = True
                    return
            self.wfile.write(body[sent:sent + PIECE])
            self.wfile.flush()
            sent += PIECE

    def _handle(self):
        body = self._body()
        fault = self.server.take_fault(self.command, self.path)
        where = fault["where"] if fault else None
        if where in ("before", "always"):
            answer = (503, [("Content-Type", "text/plain")], b"503 Service Unavailable (test proxy)")
        else:
            conn = http.client.HTTPConnection(*self.server.upstream, timeout=120)
            headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP)
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if where == "after":
                answer = (503, [("Content-Type", "text/plain")], b"503 answer lost (test proxy)")
            else:
                answer = (resp.status, resp.getheaders(), data)
        # recorded before the client can see the answer: a test reading requests() right after
        # its call returns must find this one (recording it afterwards was a race)
        with self.server.lock:
            self.server.seen.append((self.command, self.path, answer[0]))
        if where == "pace" and answer[0] == 200:
            self._answer_paced(fault, *answer)
        else:
            self._answer(*answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

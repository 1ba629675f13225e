# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Serves a directory over http and https on 127.0.0.1, for the image fetches of the target.

argv: directory, state file, certificate, key.  Writes {"http": port, "https": port, "pid": pid}
to the state file once both listen; runs until killed.  A file ``<name>.cut`` next to
``<name>`` makes the next GET of it send the full Content-Length but only half the bytes and
close the connection (the marker is removed): a fetch that fails half way.
"""

from __future__ import annotations

import http.server
import json
import os
import ssl
import sys
import threading


def handler_for(root):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = os.path.basename(self.path.split("?", 1)[0])
            path = os.path.join(root, name)
            if not name or not os.path.isfile(path):
                self.send_error(404)
                return
            with open(path, "rb") as handle:
                data = handle.read()
            marker = path + ".cut"
            cut = os.path.exists(marker)
            if cut:
                os.unlink(marker)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(data[:len(data) // 2] if cut else data)
            self.close_connection = True

        def log_message(self, *args):
            pass
    return Handler


def main(root, state, cert, key):
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(root))
    secure = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(root))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    threading.Thread(target=secure.serve_forever, daemon=True).start()
    tmp = state + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(dict(http=plain.server_address[1], https=secure.server_address[1], pid=os.getpid()), handle)
    os.rename(tmp, state)
    plain.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:5])

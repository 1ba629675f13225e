# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""tls_server.TLSHandshakeInThread (the console proxy's and the simulator's HTTPS): a client that never
sends its hello holds no one up, and one that speaks no TLS ends only its own connection."""

from __future__ import annotations

import socket
import socketserver
import ssl
import subprocess
import threading

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.tls_server import TLSHandshakeInThread


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.readline())


class EchoServer(TLSHandshakeInThread, socketserver.ThreadingTCPServer):
    daemon_threads = True


@pytest.fixture
def server(tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    srv = EchoServer(("127.0.0.1", 0), Echo)
    srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv.tls.load_cert_chain(cert, key)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv, cert
    srv.shutdown()
    srv.server_close()


def echo_over_tls(port, cafile):
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"hello\n")
            return tls.recv(100)


def test_a_silent_client_does_not_stop_the_next_handshake(server):
    srv, cert = server
    port = srv.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5):      # connected, never says hello
        assert echo_over_tls(port, cert) == b"hello\n"


def test_a_client_speaking_no_tls_ends_only_its_own_connection(server):
    srv, cert = server
    port = srv.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as plain:
        plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert plain.recv(100) == b""       # closed, nothing served in clear text
    assert echo_over_tls(port, cert) == b"hello\n"

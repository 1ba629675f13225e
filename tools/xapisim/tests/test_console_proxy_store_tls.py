"""The console proxy's shared used-token store (Redis) and its own TLS (wss://), for real: a
private redis-server on a free loopback port shared by two proxies, and a proxy serving
wss:// with a certificate from a CA made for the test.

* A link used through one proxy is refused by the other (single use across proxies), and Redis
  holds only the hash of the link's id, never the link.
* Redis down: the proxy refuses (1011, a reason, no byte) rather than let a link through
  unrecorded; Redis back: links work again.
* wss://: a client that trusts the test CA gets the console; one that does not fails the TLS
  handshake; a plain ws:// request to the TLS port gets no console.
"""

import shutil
import socket
import ssl
import subprocess
import time

import pytest

from conftest import free_port
from xapisim.ws_client import Closed
from test_console import new_running_vm as running_vm
from test_console_proxy import WS, issue, start_proxy

REDIS = shutil.which("redis-server")
pytest.importorskip("websockify")
pytest.importorskip("redis")


def wait_port(port, proc, what):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on %d" % (what, port))


class Redis:
    """redis-server of this test: loopback, a free port, no persistence, no system service."""

    def __init__(self, directory):
        if REDIS is None:
            pytest.fail("redis-server is not installed (bindep.txt has it: make deps)")
        self.dir, self.port, self.proc = directory, free_port(), None
        self.start()

    def start(self):
        self.proc = subprocess.Popen([REDIS, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "redis-server")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def keys(self):
        import redis
        return sorted(k.decode() for k in redis.Redis(port=self.port).keys("*"))


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = Redis(tmp_path_factory.mktemp("redis"))
    yield server
    if server.proc.poll() is None:
        server.stop()


@pytest.fixture(scope="module")
def two_proxies(simserver, collection_tree, tmp_path_factory, redis_server):
    url = "redis://127.0.0.1:%d/0" % redis_server.port
    proxies = [start_proxy(simserver, collection_tree, tmp_path_factory.mktemp("proxy"), used_tokens=url) for _ in range(2)]
    yield proxies
    for proxy in proxies:
        proxy["stop"]()


def test_a_link_used_on_one_proxy_is_refused_by_the_other(sim, x, two_proxies, redis_server):
    from xapisim.rfb_client import Client
    first, second = two_proxies
    vm = running_vm(x, "redis-once")
    token = issue(sim, x.VM.get_uuid(vm))
    ws = WS(first["port"], token)
    assert Client(ws).handshake().name == "redis-once"
    ws.ws.close()
    code, reason, got = WS(second["port"], token).closed()
    assert (code, got) == (1008, b"") and "used already" in reason
    keys = redis_server.keys()
    assert keys and all(k.startswith("novaops-console:used:") for k in keys)
    assert not any(part in key for key in keys for part in token.split("."))


def test_redis_down_refuses_then_back_serves(sim, x, two_proxies, redis_server):
    from xapisim.rfb_client import Client
    vm = running_vm(x, "redis-down")
    redis_server.stop()
    try:
        code, reason, got = WS(two_proxies[0]["port"], issue(sim, x.VM.get_uuid(vm))).closed()
    finally:
        redis_server.start()
    assert (code, got) == (1011, b"") and "cannot record used links" in reason
    assert Client(WS(two_proxies[0]["port"], issue(sim, x.VM.get_uuid(vm)))).handshake().name == "redis-down"


def openssl(*argv, cwd):
    subprocess.run(["openssl"] + list(argv), cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    d = tmp_path_factory.mktemp("ca")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=novaops console test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "proxy.key",
            "-out", "proxy.csr", cwd=d)
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "proxy.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "ext", "-out", "proxy.pem", cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_proxy(simserver, collection_tree, tmp_path_factory, test_ca):
    proxy = start_proxy(simserver, collection_tree, tmp_path_factory.mktemp("proxy"), cert=str(test_ca / "proxy.pem"),
                        key=str(test_ca / "proxy.key"))
    yield proxy
    proxy["stop"]()


def test_wss_with_a_certificate_the_client_checks(sim, x, tls_proxy, test_ca):
    from xapisim.rfb_client import Client
    vm = running_vm(x, "over-wss")
    trusting = ssl.create_default_context(cafile=str(test_ca / "ca.pem"))
    ws = WS(tls_proxy["port"], issue(sim, x.VM.get_uuid(vm)), tls_context=trusting)
    assert ws.ws.sock.version().startswith("TLS")
    assert Client(ws).handshake().name == "over-wss"
    ws.ws.close()
    with pytest.raises(ssl.SSLCertVerificationError):       # the machine's CAs do not know the test CA
        WS(tls_proxy["port"], issue(sim, x.VM.get_uuid(vm)), tls_context=ssl.create_default_context())
    with pytest.raises((OSError, Closed)):
        WS(tls_proxy["port"], issue(sim, x.VM.get_uuid(vm)))          # plain ws:// to the TLS port

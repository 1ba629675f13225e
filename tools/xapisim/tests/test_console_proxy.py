"""The collection's console proxy (plugins/module_utils/console_proxy) in front of this
simulator's consoles, end to end over real sockets: a console token issued as xen_console
issues it, a WebSocket client speaking RFB through the proxy, the pixels compared with a
direct read past CONNECT; every refusal a WebSocket close with its reason and no RFB byte;
the VM halted mid-session ends that session cleanly while the proxy serves the next; no
token, session or password in the proxy's log."""

import json
import os
import subprocess
import sys
import time
import urllib.parse

import pytest

from conftest import free_port
from test_console import new_running_vm as running_vm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
KEY = "console-test-key-" + "x" * 32
ORIGIN = "http://console.test"

pytest.importorskip("websockify")


def start_proxy(simserver, tree, d, **extra):
    """The collection's proxy in front of ``simserver`` on a free port; ``extra`` settings (used_tokens, cert, key)."""
    (d / "key").write_text(KEY)
    (d / "password").write_text(simserver.password)
    web = d / "web"
    web.mkdir()
    (web / "vnc_lite.html").write_text("<html>noVNC</html>")
    port = free_port()
    settings = dict(listen="127.0.0.1", port=port, web=str(web), token_key_file=str(d / "key"),
                    allowed_origins=[ORIGIN], connect_timeout=5, log_level="DEBUG",
                    xenapi=dict(ca_path=simserver.ca, pools={simserver.https: dict(username="root",
                                                                                   password_file=str(d / "password"))}))
    settings.update(extra)
    (d / "settings.json").write_text(json.dumps(settings))
    log = open(str(d / "proxy.log"), "w+")
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, "roles", "console_proxy", "files", "novaops-console-proxy"),
                             "--config", str(d / "settings.json")], stdout=subprocess.PIPE, stderr=log,
                            env=dict(os.environ, NOVAOPS_COLLECTIONS_PATH=tree), text=True)
    line = proc.stdout.readline()
    assert "ready" in line, open(str(d / "proxy.log")).read()

    def stop():
        proc.terminate()
        proc.wait(10)
        log.close()
    return dict(port=port, log=str(d / "proxy.log"), proc=proc, stop=stop)


@pytest.fixture(scope="module")
def proxy(simserver, collection_tree, tmp_path_factory):
    started = start_proxy(simserver, collection_tree, tmp_path_factory.mktemp("proxy"))
    yield started
    started["stop"]()


def issue(sim, vm_uuid, ttl=600, now=None):
    from ansible_collections.novaops.compute.plugins.module_utils.common import console_token
    from ansible_collections.novaops.compute.plugins.module_utils.xenapi.console_target import console_target
    from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection
    with XenAPIConnection(sim.https, "root", sim.password, True, sim.ca) as conn:
        ref, vm = conn.find("VM", uuid=vm_uuid)
        instance, target = console_target(conn, ref, vm)
    return console_token.issue(KEY, "xenapi", instance, target, ttl, time.time() if now is None else now)[0]


class WS:
    """A WebSocket to the proxy (as noVNC opens it), with the socket face the RFB client reads."""

    def __init__(self, port, token, origin=ORIGIN, tls_context=None):
        from xapisim.ws_client import Socket, WebSocket
        self.ws = WebSocket("127.0.0.1", port, "/websockify?token=" + urllib.parse.quote(token), origin=origin,
                            tls_context=tls_context)
        self.sock = Socket(self.ws)

    def recv(self, size):
        return self.sock.recv(size)

    def sendall(self, data):
        self.sock.sendall(data)

    def closed(self):
        """(code, reason, bytes received before the close)."""
        got = b""
        while True:
            data = self.ws.recv()
            if data is None:
                return self.ws.close_code, self.ws.close_reason, got
            got += data


def direct_screen(sim, session, con):
    from xapisim.rfb_client import Client, tls_context, xapi_connect
    u = urllib.parse.urlsplit(sim.https)
    sock, status, _ = xapi_connect(u.hostname, u.port, "/console?ref=%s&session_id=%s" % (con, session._session),
                                   tls_context(sim.ca))
    with sock:
        assert status == "HTTP/1.0 200 OK"
        c = Client(sock).handshake()
        return c.screen()


def test_console_through_the_proxy_matches_a_direct_read(sim, x, session, proxy):
    from xapisim.rfb_client import Client
    vm = running_vm(x, "proxied-vm")
    token = issue(sim, x.VM.get_uuid(vm))
    ws = WS(proxy["port"], token)
    c = Client(ws).handshake()
    assert c.name == "proxied-vm"
    through = c.screen()
    c.key(0x41)
    c.pointer(3, 4, 1)
    assert through == direct_screen(sim, session, x.VM.get_consoles(vm)[0])
    ws.ws.close()
    # the same link again: used
    code, reason, got = WS(proxy["port"], token).closed()
    assert (code, got) == (1008, b"") and "used already" in reason


@pytest.mark.parametrize("case", ["expired", "forged", "origin", "no token"])
def test_refusals_close_with_a_reason_and_relay_nothing(sim, x, proxy, case):
    vm = running_vm(x, "refused-" + case.replace(" ", "-"))
    uuid = x.VM.get_uuid(vm)
    origin = ORIGIN
    if case == "expired":
        token = issue(sim, uuid, ttl=600, now=time.time() - 601)
    elif case == "forged":
        token = issue(sim, uuid)
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif case == "origin":
        token, origin = issue(sim, uuid), "https://evil.example"
    else:
        token = ""
    code, reason, got = WS(proxy["port"], token, origin).closed()
    assert code == 1008 and got == b"", (code, reason)
    assert {"expired": "expired", "forged": "altered", "origin": "origin",
            "no token": "not a valid console token"}[case] in reason


def test_vm_halted_or_restarted_after_the_link_was_issued(sim, x, proxy):
    vm = running_vm(x, "gone")
    token = issue(sim, x.VM.get_uuid(vm))
    x.VM.hard_shutdown(vm)
    code, reason, got = WS(proxy["port"], token).closed()
    assert code == 1008 and got == b"" and "Halted" in reason and "only while it runs" in reason
    x.VM.start(vm, False, False)
    token = issue(sim, x.VM.get_uuid(vm))
    x.VM.hard_shutdown(vm)
    x.VM.start(vm, False, False)       # running again, with a new console
    code, reason, got = WS(proxy["port"], token).closed()
    assert code == 1008 and got == b"" and "restarted" in reason


def test_halt_mid_session_ends_it_cleanly_and_the_proxy_serves_the_next(sim, x, proxy):
    from xapisim.rfb_client import Client
    vm = running_vm(x, "mid-session")
    ws = WS(proxy["port"], issue(sim, x.VM.get_uuid(vm)))
    c = Client(ws).handshake()
    c.screen()
    x.VM.hard_shutdown(vm)
    code, reason, _got = ws.closed()
    assert code == 1000 and "instance stopped" in reason
    other = running_vm(x, "next-one")
    c2 = Client(WS(proxy["port"], issue(sim, x.VM.get_uuid(other)))).handshake()
    assert c2.name == "next-one"


def test_no_token_session_or_password_in_the_log(sim, x, proxy):
    vm = running_vm(x, "logged")
    token = issue(sim, x.VM.get_uuid(vm))
    ws = WS(proxy["port"], token)
    # the server's RFB version: the proxy has claimed the token (the upgrade comes before the claim)
    assert ws.recv(12).startswith(b"RFB ")
    ws.ws.close()
    WS(proxy["port"], token).closed()
    time.sleep(0.2)
    with open(proxy["log"]) as fh:
        text = fh.read()
    assert "opened" in text and "used already" in text
    for secret in (token.split(".")[0][:40], token.split(".")[1], sim.password, KEY):
        assert secret not in text
    assert "OpaqueRef" not in text and "session_id" not in text

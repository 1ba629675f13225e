"""The console through the proxy as a browser opens it, against QEMU's VNC server read directly.

    console_check.py screen <proxy url> <console url> <vnc host> <vnc port> <origin>
        prints JSON: the proxied screen equals the direct one, and it is not blank
    console_check.py refused <proxy url> <console url> <origin>
        prints JSON: the close code and reason, and how many bytes came before it
    console_check.py killed <proxy url> <console url> <origin> <qemu pid>
        opens the console, kills QEMU, prints JSON: how the session ended
    console_check.py browser <console url> <vnc host> <vnc port> <artifacts dir>
        headless chromium opens the link (noVNC through the proxy); prints JSON: noVNC's status,
        the page's canvas against QEMU's VNC read directly, the screenshot kept, and which
        secrets (argv[5:]) the browser's network log holds
    console_check.py browser-xen <console url> <console ref> <artifacts dir> [secret ...]
        the same for a XenAPI VM: the direct read logs in (XENAPI_URL, XENAPI_USERNAME,
        XENAPI_PASSWORD, XENAPI_CA_PATH) and CONNECTs to the console as the proxy does
    console_check.py printed < <playbooks/console.yml's output>
        prints JSON: {inventory host: the console URL the play printed for it}
"""

import base64
import json
import os
import re
import signal
import socket
import sys
import time
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.environ["NOVAOPS_TOOLS"])
from xapisim.cdp_client import Browser  # noqa: E402
from xapisim.rfb_client import Client, settled_screen, tls_context, xapi_connect  # noqa: E402
from xapisim.ws_client import Socket, WebSocket  # noqa: E402

# the console role's message under the default callback: ok: [host] => {"msg": "Console of <name>: <url> - ..."}
PRINTED = re.compile(r'^ok: \[(?P<host>[^\]]+)\] => \{\s*"msg": "Console of [^"]*?: (?P<url>\S+) - usable once', re.M)


def open_ws(proxy, url, origin):
    proxy = urlsplit(proxy)
    path = parse_qs(urlsplit(url).query)["path"][0]
    return WebSocket(proxy.hostname, proxy.port, "/" + path, origin=origin)


def closed(ws):
    got = 0
    while True:
        data = ws.recv()
        if data is None:
            return dict(code=ws.close_code, reason=ws.close_reason, bytes=got)
        got += len(data)


# the canvas noVNC draws on, as bytes R, G, B a pixel (base64), with its size
CANVAS = """(() => { const c = document.querySelector('#screen canvas');
  if (!c || !c.width) { return null; }
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = ''; for (let i = 0; i < d.length; i += 4) { s += String.fromCharCode(d[i], d[i + 1], d[i + 2]); }
  return [c.width, c.height, btoa(s)]; })()"""


def vnc_direct(host, port):
    """QEMU's screen read straight from its VNC server."""
    return settled_screen(Client(socket.create_connection((host, int(port)), timeout=10)).handshake())


def xen_direct(console_ref):
    """The simulated VM's screen read past CONNECT with a session of our own, as the proxy reads it."""
    import XenAPI  # pylint: disable=import-outside-toplevel
    url = urlsplit(os.environ["XENAPI_URL"])
    os.environ["SSL_CERT_FILE"] = os.environ["XENAPI_CA_PATH"]     # the SDK's TLS checks the pool's CA
    session = XenAPI.Session(os.environ["XENAPI_URL"])
    session.xenapi.login_with_password(os.environ["XENAPI_USERNAME"], os.environ["XENAPI_PASSWORD"], "1.0", "console_check")
    try:
        sock, status, _head = xapi_connect(url.hostname, url.port, "/console?ref=%s&session_id=%s"
                                           % (console_ref, session._session), tls_context(os.environ["XENAPI_CA_PATH"]))
        if status != "HTTP/1.0 200 OK":
            raise SystemExit("CONNECT to the console answered %r" % status)
        with sock:
            return Client(sock).handshake().screen()
    finally:
        session.xenapi.session.logout()


def browser(url, want, artifacts, name, secrets):
    artifacts = os.path.abspath(artifacts)
    os.makedirs(artifacts, exist_ok=True)
    shot = os.path.join(artifacts, name + "-console.png")
    net_log = os.path.join(artifacts, name + "-console.netlog.json")
    want = b"".join(want[i:i + 3] for i in range(0, len(want), 4))
    page = Browser(extra=["--log-net-log=" + net_log, "--net-log-capture-mode=Everything"])
    try:
        page.open(url)
        status = page.wait_for("(() => { const s = document.getElementById('status').textContent;"
                               " return s.startsWith('Connected') ? s : ''; })()")
        status = status or page.evaluate("document.getElementById('status').textContent")
        got = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:      # noVNC draws the first update after "connected"
            got = page.evaluate(CANVAS)
            if got and base64.b64decode(got[2]) == want:
                break
            time.sleep(0.3)
        page.screenshot(shot)
    finally:
        page.close()                            # chromium writes the net log's end as it exits
    pixels = base64.b64decode(got[2]) if got else b""
    with open(net_log, encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    differing = [i // 3 for i in range(0, min(len(pixels), len(want)), 3) if pixels[i:i + 3] != want[i:i + 3]]
    width = got[0] if got else 1
    return dict(status=status, equal=pixels == want, size=got[:2] if got else None,
                differing_pixels=len(differing),
                differing_rows=[differing[0] // width, differing[-1] // width] if differing else [],
                lit_pixels=sum(1 for i in range(0, len(want), 3) if want[i:i + 3] != b"\0\0\0"),
                screenshot=shot, net_log=net_log, net_log_bytes=len(log),
                secrets_in_net_log=[n for n, secret in enumerate(secrets) if secret and secret in log])


def main(argv):
    kind = argv[0]
    if kind == "screen":
        proxy, url, host, port, origin = argv[1:6]
        direct = Client(socket.create_connection((host, int(port)), timeout=10)).handshake()
        b = settled_screen(direct)
        through = Client(Socket(open_ws(proxy, url, origin))).handshake()
        a = through.screen()
        lit = sum(1 for i in range(0, len(b), 4) if b[i:i + 3] != b"\0\0\0")
        print(json.dumps(dict(equal=a == b, size=[through.width, through.height], lit_pixels=lit,
                              name=through.name)))
    elif kind == "refused":
        proxy, url, origin = argv[1:4]
        print(json.dumps(closed(open_ws(proxy, url, origin))))
    elif kind == "killed":
        proxy, url, origin, pid = argv[1:5]
        ws = open_ws(proxy, url, origin)
        Client(Socket(ws)).handshake().screen()
        os.kill(int(pid), signal.SIGKILL)
        started = time.monotonic()
        result = closed(ws)
        result["seconds"] = round(time.monotonic() - started, 2)
        print(json.dumps(result))
    elif kind == "browser":
        print(json.dumps(browser(argv[1], vnc_direct(argv[2], argv[3]), argv[4], "libvirt", argv[5:])))
    elif kind == "browser-xen":
        print(json.dumps(browser(argv[1], xen_direct(argv[2]), argv[3], "xenapi", argv[4:])))
    elif kind == "printed":
        print(json.dumps({m.group("host"): m.group("url") for m in PRINTED.finditer(sys.stdin.read())}))


if __name__ == "__main__":
    main(sys.argv[1:])

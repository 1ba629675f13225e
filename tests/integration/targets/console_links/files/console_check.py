"""The console through the proxy as a browser opens it, against QEMU's VNC server read directly.

    console_check.py screen <proxy url> <console url> <vnc host> <vnc port> <origin>
        prints JSON: the proxied screen equals the direct one, and it is not blank
    console_check.py refused <proxy url> <console url> <origin>
        prints JSON: the close code and reason, and how many bytes came before it
    console_check.py killed <proxy url> <console url> <origin> <qemu pid>
        opens the console, kills QEMU, prints JSON: how the session ended
"""

import json
import os
import signal
import socket
import sys
import time
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.environ["NOVAOPS_TOOLS"])
from xapisim.rfb_client import Client, settled_screen  # noqa: E402
from xapisim.ws_client import Socket, WebSocket  # noqa: E402


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


if __name__ == "__main__":
    main(sys.argv[1:])

"""CONNECT /console: xapi's refusals (401 for a bad session, 404 for no running VM's console)
and, past ``HTTP/1.0 200 OK``, an RFB exchange with a real client over HTTP and HTTPS: the
handshake in 3.3, 3.7 and 3.8, the VM's name label and power state read back off the screen
in two pixel formats, incremental updates that wait for a change, key and pointer events."""

import base64
import socket
import struct
import time
import urllib.parse

import pytest

from xapisim import console
from xapisim.rfb_client import RGBX, Client, read_text, tls_context, xapi_connect


def new_running_vm(x, name):
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, name)
    x.VM.provision(vm)
    x.VM.start(vm, False, False)
    return vm


def addr(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port


def connect(sim, path, https=False):
    host, port = addr(sim.https if https else sim.url)
    return xapi_connect(host, port, path, tls_context(sim.ca) if https else None)


def console_of_new_vm(sim, x, session, name, https=False):
    """A new running VM, its console and an open connection to it: (vm, console, socket, status line)."""
    vm = new_running_vm(x, name)
    con = x.VM.get_consoles(vm)[0]
    sock, status, _ = connect(sim, "/console?ref=%s&session_id=%s" % (con, session._session), https)
    return vm, con, sock, status


def rfb(sock, version=8, pixel_format=RGBX):
    sock.settimeout(10)
    return Client(sock, version, pixel_format).handshake()


def shown(client):
    """(name label, power state line) as the screen shows them."""
    name = read_text(client, console.NAME_AT[0], console.NAME_AT[1], console.NAME_SCALE, 26, (255, 255, 255))
    state = read_text(client, console.STATE_AT[0], console.STATE_AT[1], console.STATE_SCALE, 34, (128, 255, 128))
    return name, state


@pytest.mark.parametrize("https", [False, True])
@pytest.mark.parametrize("version", [3, 7, 8])
def test_console_by_ref_shows_the_vm(sim, x, session, https, version):
    _vm, _con, sock, status = console_of_new_vm(sim, x, session, "web-01 (Console)", https)
    with sock:
        assert status == "HTTP/1.0 200 OK"
        c = rfb(sock, version)
        assert (c.width, c.height) == (console.WIDTH, console.HEIGHT)
        assert c.name == "web-01 (Console)"
        c.screen()
        assert shown(c) == ("WEB-01 (CONSOLE)", "POWER STATE: RUNNING")


def test_location_uuid_form_and_vm_ref(sim, x, session):
    vm = new_running_vm(x, "by-uuid")
    con = x.VM.get_consoles(vm)[0]
    location = x.console.get_location(con)
    query = urllib.parse.urlsplit(location).query
    for path in ("/console?%s&session_id=%s" % (query, session._session),
                 "/console?uuid=%s&session_id=%s" % (x.VM.get_uuid(vm), session._session),
                 "/console?ref=%s&session_id=%s" % (vm, session._session)):
        sock, status, _ = connect(sim, path, https=True)
        with sock:
            assert status == "HTTP/1.0 200 OK", path
            c = rfb(sock)
            c.screen()
            assert shown(c)[0] == "BY-UUID"


def test_session_cookie_and_basic_auth(sim, x, session):
    vm = new_running_vm(x, "cookie")
    con = x.VM.get_consoles(vm)[0]
    host, port = addr(sim.url)
    for header in ("Cookie: session_id=%s" % session._session,
                   "Authorization: Basic %s" % base64.b64encode(b"root:" + sim.password.encode()).decode()):
        sock = socket.create_connection((host, port), timeout=10)
        with sock:
            sock.sendall(("CONNECT /console?ref=%s HTTP/1.0\r\n%s\r\n\r\n" % (con, header)).encode())
            assert sock.recv(17) == b"HTTP/1.0 200 OK\r\n"


def test_bad_session_is_401_as_xapi(sim, x):
    vm = new_running_vm(x, "locked")
    con = x.VM.get_consoles(vm)[0]
    for creds in ("&session_id=OpaqueRef:not-a-session", ""):
        sock, status, headers = connect(sim, "/console?ref=%s%s" % (con, creds), https=True)
        with sock:
            assert status.split()[1] == "401"
            assert 'WWW-Authenticate: Basic realm="connect_console"' in headers
            assert sock.recv(4096).startswith(b"<html>")    # a page, no RFB


def test_halted_vm_and_unknown_console_are_404(sim, x, session):
    vm = new_running_vm(x, "stopped")
    con = x.VM.get_consoles(vm)[0]
    x.VM.hard_shutdown(vm)
    for query in ("ref=%s" % con, "ref=%s" % vm, "uuid=%s" % x.VM.get_uuid(vm),
                  "ref=OpaqueRef:nothing", "other=1"):
        sock, status, _ = connect(sim, "/console?%s&session_id=%s" % (query, session._session))
        with sock:
            assert status.split()[1] == "404", query


def test_paused_vm_is_refused_then_redrawn_for_a_connected_client(sim, x, session):
    vm, con, sock, status = console_of_new_vm(sim, x, session, "pausing")
    with sock:
        c = rfb(sock)
        c.screen()
        c.request(incremental=True)
        # nothing changed: the incremental request waits rather than answering at once
        sock.settimeout(0.6)
        with pytest.raises(socket.timeout):
            c.read_update()
        sock.settimeout(10)
        x.VM.pause(vm)
        c.read_update()
        assert shown(c) == ("PAUSING", "POWER STATE: PAUSED")
        new, status, _ = connect(sim, "/console?ref=%s&session_id=%s" % (con, session._session))
        new.close()
        assert status.split()[1] == "404"
        x.VM.unpause(vm)


def test_keys_pointer_and_a_16_bit_big_endian_format(sim, x, session):
    # 16 bits per pixel, big-endian, RGB565
    rgb565 = struct.pack(">BBBBHHHBBB3x", 16, 16, 1, 1, 31, 63, 31, 11, 5, 0)
    vm, _con, sock, status = console_of_new_vm(sim, x, session, "input", https=True)
    with sock:
        c = rfb(sock)
        for n in range(20):
            c.key(0x61 + n, True)
            c.key(0x61 + n, False)
            c.pointer(n * 10, n * 5, n & 1)
        sock.sendall(struct.pack(">BxxxI", 6, 5) + b"hello")
        c.sock.sendall(b"\x00\x00\x00\x00" + rgb565)
        c.request(False)
        n = struct.unpack(">xxH", c.need(4))[0]
        x0, y0, w, h, enc = struct.unpack(">HHHHi", c.need(12))
        assert (n, x0, y0, w, h, enc) == (1, 0, 0, console.WIDTH, console.HEIGHT, 0)
        data = c.need(w * h * 2)
        corner = struct.unpack(">H", data[:2])[0]
        bg = console.PALETTE[0]
        assert corner == ((bg[0] * 31 + 127) // 255) << 11 | ((bg[1] * 63 + 127) // 255) << 5 | (bg[2] * 31 + 127) // 255


def test_connection_ends_when_the_vm_halts(sim, x, session):
    vm, _con, sock, status = console_of_new_vm(sim, x, session, "ending")
    with sock:
        c = rfb(sock)
        c.screen()
        x.VM.hard_shutdown(vm)
        deadline = time.monotonic() + 5
        closed = False
        while time.monotonic() < deadline:
            if sock.recv(4096) == b"":
                closed = True
                break
        assert closed


def test_unused_pixel_bits_are_set():
    """noVNC 1.3 (Debian 12) takes a 32-bit pixel's unused byte as alpha in its raw decoder: a 0
    there drew the console transparent in a browser."""
    from xapisim.rfb import PixelFormat
    assert PixelFormat().encode((1, 2, 3)) == b"\x03\x02\x01\xff"
    novnc = PixelFormat(shifts=(0, 8, 16))
    assert novnc.encode((1, 2, 3)) == b"\x01\x02\x03\xff"
    assert PixelFormat(bpp=16, depth=16, maxima=(31, 63, 31), shifts=(11, 5, 0)).unused_bits() == 0

"""A small RFB client for tests and benches: handshake (3.3, 3.7 or 3.8, security None), one
pixel format, Raw updates, key and pointer events; and a reader of the 5x7 font's text back
out of a screen, to check what a console shows without OCR.

Works over any connected socket: a VNC port (QEMU) or a socket past xapi's ``CONNECT``.
"""

import socket
import ssl
import struct
import time

from .console_font import HEIGHT as GLYPH_H, WIDTH as GLYPH_W, glyphs
from .exact_reads import ExactReads

# 32 bits per pixel, little-endian, red in the low byte: bytes R, G, B, 0 (as noVNC asks)
RGBX = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 0, 8, 16)


class RFBError(Exception):
    pass


class Client(ExactReads):
    def __init__(self, sock, version=8, pixel_format=RGBX):
        self.sock = sock
        self.buf = b""
        self.version = version
        self.pixel_format = pixel_format
        self.width = self.height = 0
        self.name = ""
        self.server_version = b""
        self.pixels = None              # bytearray, 4 bytes a pixel in RGBX

    def closed_early(self):
        return RFBError("the server closed the connection")

    def handshake(self):
        self.server_version = self.need(12)
        if not self.server_version.startswith(b"RFB 003."):
            raise RFBError("not an RFB server: %r" % self.server_version)
        self.sock.sendall(b"RFB 003.%03d\n" % self.version)
        if self.version == 3:
            sec = struct.unpack(">I", self.need(4))[0]
            if sec != 1:
                raise RFBError("security type %d" % sec)
        else:
            count = self.need(1)[0]
            if count == 0:
                length = struct.unpack(">I", self.need(4))[0]
                raise RFBError("refused: %s" % self.need(length).decode("utf-8", "replace"))
            types = self.need(count)
            if 1 not in types:
                raise RFBError("no security type None among %r" % list(types))
            self.sock.sendall(b"\x01")
            if self.version >= 8 and struct.unpack(">I", self.need(4))[0] != 0:
                raise RFBError("security result failed")
        self.sock.sendall(b"\x01")      # shared
        self.width, self.height = struct.unpack(">HH", self.need(4))
        self.need(16)
        length = struct.unpack(">I", self.need(4))[0]
        self.name = self.need(length).decode("utf-8", "replace")
        self.sock.sendall(b"\x00\x00\x00\x00" + self.pixel_format)
        self.sock.sendall(struct.pack(">BxHi", 2, 1, 0))        # Raw only
        self.pixels = bytearray(self.width * self.height * 4)
        return self

    def request(self, incremental=False, rect=None):
        x, y, w, h = rect or (0, 0, self.width, self.height)
        self.sock.sendall(struct.pack(">BBHHHH", 3, int(incremental), x, y, w, h))

    def key(self, keysym, down=True):
        self.sock.sendall(struct.pack(">BBxxI", 4, int(down), keysym))

    def pointer(self, x, y, mask=0):
        self.sock.sendall(struct.pack(">BBHH", 5, mask, x, y))

    def read_update(self):
        """Read server messages up to and including one FramebufferUpdate; returns its rectangles."""
        while True:
            kind = self.need(1)[0]
            if kind == 0:
                n = struct.unpack(">xH", self.need(3))[0]
                rects = []
                for _ in range(n):
                    x, y, w, h, enc = struct.unpack(">HHHHi", self.need(12))
                    if enc != 0:
                        raise RFBError("encoding %d was not asked for" % enc)
                    data = self.need(w * h * 4)
                    for row in range(h):
                        start = ((y + row) * self.width + x) * 4
                        self.pixels[start:start + w * 4] = data[row * w * 4:(row + 1) * w * 4]
                    rects.append((x, y, w, h))
                return rects
            if kind == 1:               # SetColourMapEntries
                n = struct.unpack(">xxxH", self.need(5))[0]
                self.need(6 * n)
            elif kind == 2:             # Bell
                pass
            elif kind == 3:             # ServerCutText
                self.need(struct.unpack(">3xI", self.need(7))[0])
            else:
                raise RFBError("unknown server message %d" % kind)

    def rgb(self, x, y):
        i = (y * self.width + x) * 4
        return tuple(self.pixels[i:i + 3])

    def screen(self):
        """The whole screen: one non-incremental update."""
        self.request(False)
        self.read_update()
        return bytes(self.pixels)


def settled_screen(client, timeout=30):
    """The screen once it holds still and is not blank (a guest that printed and halted): two reads
    half a second apart that agree, or the last read when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    last = client.screen()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = client.screen()
        if now == last and any(now[i:i + 3] != b"\0\0\0" for i in range(0, len(now), 4)):
            return now
        last = now
    return last


def read_text(client, x, y, scale, count, colour):
    """The characters drawn with the 5x7 font at (x, y) in ``colour``, up to ``count`` of them;
    a cell that matches no glyph reads as ``?`` (so that a wrong pixel is seen)."""
    out = []
    for n in range(count):
        gx = x + n * (GLYPH_W + 1) * scale
        if gx + GLYPH_W * scale > client.width:
            break
        cells = tuple(tuple(client.rgb(gx + col * scale + scale // 2, y + row * scale + scale // 2) == colour
                            for col in range(GLYPH_W)) for row in range(GLYPH_H))
        match = [ch for ch, rows in glyphs().items() if rows == cells]
        out.append(match[0] if match else "?")
    return "".join(out).rstrip()


def xapi_connect(host, port, path, tls_context=None, timeout=10):
    """A socket past ``CONNECT <path> HTTP/1.0`` on a XenAPI host: (socket, status line, headers).

    The caller checks the status; on 200 the socket carries RFB.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    if tls_context is not None:
        sock = tls_context.wrap_socket(sock, server_hostname=host)
    sock.sendall(b"CONNECT %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path.encode(), host.encode()))
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(1)
        if not data:
            break
        head += data
    lines = head.decode("iso-8859-1").split("\r\n")
    return sock, lines[0], [ln for ln in lines[1:] if ln]


def tls_context(cafile):
    return ssl.create_default_context(cafile=cafile)

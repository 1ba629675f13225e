"""An RFB (VNC) server for one connection: versions 3.3, 3.7 and 3.8, security type None.

After RFC 6143 (The Remote Framebuffer Protocol): the server's ProtocolVersion, the client's
(3.3 is what a 3.5 or an unknown 3.x client gets, 3.8 for anything newer), security "None"
(3.3: the server names it as a u32; 3.7/3.8: a list the client picks from; 3.8 adds the
SecurityResult), ClientInit, ServerInit (size, pixel format, name), then client messages:
SetPixelFormat, SetEncodings, FramebufferUpdateRequest, KeyEvent, PointerEvent, ClientCutText.
Updates are sent Raw (the encoding every client supports), in the pixel format the client
set.  An incremental request for a screen that has not changed waits until it changes, as a
VNC server does, rather than resending the same pixels.

The screen is a ``Screen`` the caller provides: ``current()`` returns the Framebuffer to show
(a new version when it changed) and ``alive()`` says whether the console still exists (a
guest that stopped ends the connection as its display server would).
"""

import logging
import socket
import struct
import threading

from .console_font import HEIGHT as GLYPH_H, WIDTH as GLYPH_W, glyph

log = logging.getLogger("xapisim.rfb")

SERVER_VERSION = b"RFB 003.008\n"
SEC_NONE = 1
TICK = 0.25                     # seconds between looks at the screen while the client is quiet


class Closed(Exception):
    """The client went away or broke the protocol."""


class PixelFormat:
    """RFC 6143 7.4: bits per pixel, depth, byte order, true colour, maxima and shifts."""

    def __init__(self, bpp=32, depth=24, big_endian=False, true_colour=True,
                 maxima=(255, 255, 255), shifts=(16, 8, 0)):
        self.bpp = bpp
        self.depth = depth
        self.big_endian = big_endian
        self.true_colour = true_colour
        self.maxima = tuple(maxima)
        self.shifts = tuple(shifts)

    @classmethod
    def unpack(cls, data):
        bpp, depth, big, true, rmax, gmax, bmax, rs, gs, bs = struct.unpack(">BBBBHHHBBB3x", data)
        return cls(bpp, depth, bool(big), bool(true), (rmax, gmax, bmax), (rs, gs, bs))

    def pack(self):
        return struct.pack(">BBBBHHHBBB3x", self.bpp, self.depth, int(self.big_endian), int(self.true_colour),
                           *(self.maxima + self.shifts))

    def key(self):
        return (self.bpp, self.big_endian, self.maxima, self.shifts)

    def problem(self):
        """Why this server cannot send in this format, or None."""
        if self.bpp not in (8, 16, 32):
            return "bits per pixel %d is not 8, 16 or 32" % self.bpp
        if not self.true_colour:
            return "colour-map pixel formats are not served (true colour only)"
        return None

    def unused_bits(self):
        """The bits of a pixel no colour uses (the 4th byte of 32-bit true colour)."""
        used = 0
        for m, s in zip(self.maxima, self.shifts):
            used |= m << s
        return ((1 << self.bpp) - 1) & ~used

    def encode(self, rgb):
        # Unused bits are sent set: clients ignore them (RFC 6143 7.4),
        # but Debian 12's noVNC 1.3 raw decoder takes that byte as alpha for all but the first
        # rect in its receive queue, and a 0 there drew those pixels transparent.
        value = self.unused_bits()
        for c, m, s in zip(rgb, self.maxima, self.shifts):
            value |= ((c * m + 127) // 255) << s
        return value.to_bytes(self.bpp // 8, "big" if self.big_endian else "little")


class Framebuffer:
    """Pixels as indices into a small palette of RGB colours; text drawn with the 5x7 font."""

    def __init__(self, width, height, palette, background=0):
        self.width = width
        self.height = height
        self.palette = [tuple(c) for c in palette]
        self.cells = bytearray([background]) * (width * height)

    def text(self, x, y, string, colour, scale=1):
        """Draw ``string`` from (x, y), each glyph cell (5+1)*scale wide; what does not fit is cut."""
        for n, ch in enumerate(string):
            gx = x + n * (GLYPH_W + 1) * scale
            if gx + GLYPH_W * scale > self.width:
                break
            for row, bits in enumerate(glyph(ch)):
                for col, lit in enumerate(bits):
                    if lit:
                        self.fill(gx + col * scale, y + row * scale, scale, scale, colour)

    def fill(self, x, y, w, h, colour):
        w = max(0, min(w, self.width - x))
        for yy in range(max(0, y), min(self.height, y + h)):
            start = yy * self.width + x
            self.cells[start:start + w] = bytes([colour]) * w

    def rgb(self, x, y):
        return self.palette[self.cells[y * self.width + x]]

    def encode(self, pf, x, y, w, h):
        table = [pf.encode(c) for c in self.palette]
        out = []
        for yy in range(y, y + h):
            start = yy * self.width + x
            out.extend(table[i] for i in self.cells[start:start + w])
        return b"".join(out)


def text_width(string, scale=1):
    return len(string) * (GLYPH_W + 1) * scale


def text_height(scale=1):
    return GLYPH_H * scale


class Session:
    """One client connection on ``sock`` (plain or TLS, already past any HTTP exchange)."""

    def __init__(self, sock, screen, name):
        self.sock = sock
        self.screen = screen
        self.name = name.encode("utf-8")
        self.buf = b""
        self.pf = PixelFormat()
        self.pending = None             # an incremental request waiting for a change
        self.sent_version = None
        self.cache = {}                 # (pixel format key, version) -> full-screen pixels
        self.events = {"key": 0, "pointer": 0, "cut_text": 0, "updates": 0}
        self.lock = threading.Lock()

    # ---- reading, with the screen looked at while the client is quiet
    def _need(self, n):
        while len(self.buf) < n:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                self._tick()
                continue
            except OSError as e:
                raise Closed("read: %s" % e)
            if not data:
                raise Closed("the client closed the connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Closed("write: %s" % e)

    def _tick(self):
        if not self.screen.alive():
            raise Closed("the console is gone")
        if self.pending is not None:
            version, _fb = self.screen.current()
            if version != self.sent_version:
                rect, self.pending = self.pending, None
                self._update(rect)

    # ---- the protocol
    def run(self):
        try:
            self.sock.settimeout(TICK)
            self._handshake()
            while True:
                self._message()
        except Closed as e:
            log.debug("rfb session ends: %s", e)
        finally:
            try:
                self.sock.settimeout(None)
            except OSError:
                pass

    def _handshake(self):
        self._send(SERVER_VERSION)
        version = self._need(12)
        if not (version.startswith(b"RFB ") and version[7:8] == b"." and version.endswith(b"\n")):
            raise Closed("not an RFB ProtocolVersion: %r" % version)
        try:
            major, minor = int(version[4:7]), int(version[8:11])
        except ValueError:
            raise Closed("not an RFB ProtocolVersion: %r" % version)
        if major != 3:
            raise Closed("RFB major version %d" % major)
        minor = 8 if minor >= 8 else 7 if minor == 7 else 3
        if minor == 3:
            self._send(struct.pack(">I", SEC_NONE))
        else:
            self._send(bytes([1, SEC_NONE]))
            chosen = self._need(1)[0]
            if chosen != SEC_NONE:
                if minor == 8:
                    reason = b"security type %d is not offered" % chosen
                    self._send(struct.pack(">II", 1, len(reason)) + reason)
                raise Closed("the client chose security type %d" % chosen)
            if minor == 8:
                self._send(struct.pack(">I", 0))
        self._need(1)                   # ClientInit: shared flag (every connection shares here)
        _version, fb = self.screen.current()
        self._send(struct.pack(">HH", fb.width, fb.height) + self.pf.pack()
                   + struct.pack(">I", len(self.name)) + self.name)

    def _message(self):
        kind = self._need(1)[0]
        if kind == 0:                   # SetPixelFormat
            pf = PixelFormat.unpack(self._need(19)[3:])
            problem = pf.problem()
            if problem:
                raise Closed("SetPixelFormat: %s" % problem)
            self.pf = pf
            self.sent_version = None    # the next incremental request gets the whole screen again
        elif kind == 2:                 # SetEncodings: Raw is always allowed, so the list is read only
            count = struct.unpack(">xH", self._need(3))[0]
            self._need(4 * count)
        elif kind == 3:                 # FramebufferUpdateRequest
            incremental, x, y, w, h = struct.unpack(">BHHHH", self._need(9))
            version, _fb = self.screen.current()
            if incremental and version == self.sent_version:
                self.pending = (x, y, w, h)
            else:
                self.pending = None
                self._update((x, y, w, h))
        elif kind == 4:                 # KeyEvent: down-flag, padding, keysym
            self._need(7)
            self.events["key"] += 1
        elif kind == 5:                 # PointerEvent: button mask, x, y
            self._need(5)
            self.events["pointer"] += 1
        elif kind == 6:                 # ClientCutText
            length = struct.unpack(">3xI", self._need(7))[0]
            if length > 1 << 20:
                raise Closed("ClientCutText of %d bytes" % length)
            self._need(length)
            self.events["cut_text"] += 1
        else:
            raise Closed("unknown client message type %d" % kind)

    def _update(self, rect):
        version, fb = self.screen.current()
        x, y, w, h = rect
        x, y = min(x, fb.width), min(y, fb.height)
        w, h = min(w, fb.width - x), min(h, fb.height - y)
        if (x, y, w, h) == (0, 0, fb.width, fb.height):
            key = (self.pf.key(), version)
            pixels = self.cache.get(key)
            if pixels is None:
                self.cache = {key: fb.encode(self.pf, 0, 0, fb.width, fb.height)}
                pixels = self.cache[key]
        else:
            pixels = fb.encode(self.pf, x, y, w, h)
        self._send(struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", x, y, w, h, 0) + pixels)
        self.sent_version = version
        self.events["updates"] += 1

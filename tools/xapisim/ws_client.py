"""A small WebSocket client (RFC 6455) for tests and benches: the opening handshake with the
path's query and an Origin, binary messages out (masked), messages in, and the close frame's
code and reason kept.  ``Socket`` gives it the recv/sendall face the RFB client uses."""

import base64
import hashlib
import os
import socket
import struct

from .exact_reads import ExactReads

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    pass


class WebSocket(ExactReads):
    def __init__(self, host, port, path, origin=None, tls_context=None, timeout=10, protocols=("binary",)):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.buf = b""
        self.close_code = None
        self.close_reason = None
        key = base64.b64encode(os.urandom(16))
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key.decode(), "Sec-WebSocket-Version: 13"]
        if origin:
            lines.append("Origin: %s" % origin)
        if protocols:
            lines.append("Sec-WebSocket-Protocol: %s" % ", ".join(protocols))
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            data = sock.recv(4096)
            if not data:
                raise Closed("the server closed during the handshake")
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0].decode("iso-8859-1")
        if status.split(" ")[1:2] != ["101"]:
            raise Closed("handshake refused: %s" % status)
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        if b"sec-websocket-accept: " + accept.lower() not in head.lower():
            raise Closed("a wrong Sec-WebSocket-Accept")

    def closed_early(self):
        return Closed("the connection ended without a close frame")

    def recv(self):
        """The next data message, or None after the server's close frame (close_code, close_reason)."""
        message = b""
        while True:
            b0, b1 = self.need(2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack(">H", self.need(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self.need(8))[0]
            mask = self.need(4) if b1 & 0x80 else None
            payload = self.need(length)
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 8:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.close_reason = payload[2:].decode("utf-8", "replace")
                return None
            if opcode == 9:
                self._frame(10, payload)
                continue
            if opcode == 10:
                continue
            message += payload
            if b0 & 0x80:
                return message

    def _frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))

    def send(self, data):
        self._frame(2, data)

    def close(self, code=1000):
        try:
            self._frame(8, struct.pack(">H", code))
        except OSError:
            pass
        self.sock.close()


class Socket:
    """recv/sendall over a WebSocket's binary messages (what the RFB client reads and writes)."""

    def __init__(self, ws):
        self.ws = ws
        self.pending = b""

    def recv(self, size):
        if not self.pending:
            data = self.ws.recv()
            if data is None:
                return b""
            self.pending = data
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def sendall(self, data):
        self.ws.send(data)

    def settimeout(self, t):
        self.ws.sock.settimeout(t)

"""Exact reads off a stream socket, for the test clients (rfb_client, ws_client)."""


class ExactReads:
    """Mixed into a client that has ``sock`` and a read-ahead buffer ``buf`` (bytes); ``closed_early()``
    is the exception for a peer that ends the stream before the bytes wanted came."""

    def need(self, n):
        """The next ``n`` bytes, waiting for them."""
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise self.closed_early()
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def closed_early(self):
        raise NotImplementedError

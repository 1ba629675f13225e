# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""TLS for a threading socket server: the socket wrapped as it is accepted, the handshake done in
the request's own thread under a time limit, so that a client that never finishes its hello holds
one thread for a while, never the accept loop.

Standard library only, and no imports from the collection: the XenAPI simulator's HTTPS port
(tools/xapisim/wire.py) loads this file too.
"""

from __future__ import annotations

import ssl

# how long a client may take over its side of the handshake
HANDSHAKE_SECONDS = 30


class TLSHandshakeInThread:
    """Mixed in before a ``socketserver`` server class: ``tls`` is an ``ssl.SSLContext`` (server side),
    or None for plain TCP."""

    tls = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(HANDSHAKE_SECONDS)
                request.do_handshake()
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)

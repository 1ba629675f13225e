# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's websockify token plugin: a console token becomes an open console.

``grant(token, origin)`` checks, in order: the ``Origin`` against the allow-list, the token's
signature and expiry, that it was not used (recording its id's hash: single use), then the
live target (hypervisor.py) - and returns the open hypervisor-side socket.  ``lookup(token)``
is websockify's plugin interface (``--token-plugin``), for libvirt targets only: signature,
expiry and single use, then ``(host, port)``; the Origin and live-target checks and XenAPI's
CONNECT need the collection's handler (server.py), which the console_proxy role runs.
"""

from __future__ import annotations

import time

from ansible_collections.novaops.compute.plugins.module_utils.common import console_token
from ansible_collections.novaops.compute.plugins.module_utils.console_proxy import hypervisor
from ansible_collections.novaops.compute.plugins.module_utils.console_proxy.hypervisor import Refusal
from ansible_collections.novaops.compute.plugins.module_utils.console_proxy.used_tokens import (
    StoreUnavailable, make_store)

try:
    from websockify.token_plugins import BasePlugin
except ImportError:         # the modules import nothing of this; only the proxy needs websockify
    BasePlugin = object


class ConsoleTokens(BasePlugin):
    def __init__(self, src):
        config = src
        if BasePlugin is not object:
            super().__init__(src)
        self.config = config
        self.used = make_store(config.used_tokens)

    def check_origin(self, origin):
        if not origin or origin.rstrip("/").lower() not in self.config.allowed_origins:
            raise Refusal("This console page was opened from an origin the console proxy does not allow.")

    def claims(self, token):
        try:
            claims = console_token.verify(self.config.token_key, token, time.time())
        except console_token.TokenError as exc:
            raise Refusal(str(exc)[0].upper() + str(exc)[1:] + ".") from exc
        try:
            first = self.used.claim(console_token.jti_hash(claims), claims["exp"])
        except StoreUnavailable as exc:
            raise Refusal("The console proxy cannot record used links right now; try again later.",
                          hypervisor.UNAVAILABLE) from exc
        if not first:
            raise Refusal("This console link was used already; ask for a new one.")
        return claims

    def open(self, claims):
        """``(socket, close)`` to the instance's console."""
        if claims.get("drv") == "libvirt":
            return hypervisor.open_libvirt(claims, self.config), None
        if claims.get("drv") == "xenapi":
            return hypervisor.open_xenapi(claims, self.config)
        raise Refusal("The console link names an unknown driver.")

    def grant(self, token, origin):
        self.check_origin(origin)
        claims = self.claims(token)
        sock, close = self.open(claims)
        return claims, sock, close

    def lookup(self, token):
        try:
            claims = self.claims(token)
        except Refusal:
            return None
        if claims.get("drv") != "libvirt":
            return None
        return claims["tgt"]["host"], claims["tgt"]["port"]

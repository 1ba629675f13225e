# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The console proxy: websockify's request handler serving noVNC's pages and, on the WebSocket
``/websockify?token=...``, the collection's token plugin, then websockify's relay.

One process, a thread per connection (so the in-memory used-token record is one record).
The upgrade is always accepted, then every refusal is a WebSocket close (1008 refused, 1011
unreachable) with a reason the noVNC page shows.  Logs never hold a token: every line a
handler logs has ``token=`` values masked, and reasons never quote one.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import sys
from http.server import HTTPServer
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, urlsplit

from ansible_collections.novaops.compute.plugins.module_utils.common.tls_server import TLSHandshakeInThread
from ansible_collections.novaops.compute.plugins.module_utils.console_proxy import config as config_mod
from ansible_collections.novaops.compute.plugins.module_utils.console_proxy.hypervisor import UNAVAILABLE, Refusal
from ansible_collections.novaops.compute.plugins.module_utils.console_proxy.token_plugin import ConsoleTokens

try:
    from websockify.websocketproxy import ProxyRequestHandler
    HAS_WEBSOCKIFY = True
except ImportError:         # the modules never import this file; the proxy's host has websockify
    ProxyRequestHandler = object
    HAS_WEBSOCKIFY = False

log = logging.getLogger("novaops.console_proxy")
TOKEN_IN_TEXT = re.compile(r"(?i)(token(=|%3D))[^&\s'\"]+")


def masked(text):
    return TOKEN_IN_TEXT.sub(r"\1***", str(text))


class ConsoleProxyHandler(ProxyRequestHandler):

    def setup(self):
        super().setup()
        self.directory = self.server.web        # noVNC's pages, whatever the working directory

    def log_message(self, format, *args):      # pylint: disable=redefined-builtin
        log.info("%s %s", self.client_address[0] if self.client_address else "-", masked(format % args))

    def validate_connection(self):
        """Nothing before the upgrade: refusals are WebSocket closes the page can show."""

    def _token(self):
        values = parse_qs(urlsplit(self.path).query).get("token")
        return values[0] if values else ""

    def new_websocket_client(self):
        plugin = self.server.token_plugin
        peer = self.client_address[0] if self.client_address else "-"
        try:
            claims, target, close = plugin.grant(self._token(), self.headers.get("Origin"))
        except Refusal as refusal:
            log.warning("%s refused: %s", peer, refusal.reason)
            raise self.CClose(refusal.code, refusal.reason)
        instance = claims["inst"]
        log.info("%s console of %s instance %s (%s) opened", peer, claims["drv"], instance.get("name"),
                 instance.get("uuid"))
        self.server.target_host, self.server.target_port = claims["tgt"]["host"], claims["tgt"]["port"]
        try:
            self.do_proxy(target)
        except self.CClose as closed:
            log.debug("%s console of %s ends: %s", peer, instance.get("name"), masked(closed.args))
            if closed.args and closed.args[1] == "Target closed":
                raise self.CClose(1000, "The console closed: the instance stopped, or its hypervisor went away.")
            raise
        except (OSError, ssl.SSLError) as exc:
            log.warning("%s console of %s lost: %s", peer, instance.get("name"), type(exc).__name__)
            raise self.CClose(UNAVAILABLE, "The console connection was lost: the instance stopped, or its "
                                           "hypervisor went away.")
        finally:
            log.info("%s console of %s instance %s closed", peer, claims["drv"], instance.get("name"))
            for step in (lambda: target.shutdown(socket.SHUT_RDWR), target.close, close):
                try:
                    if step is not None:
                        step()
                except Exception:   # pylint: disable=broad-except
                    pass


class ConsoleProxyServer(TLSHandshakeInThread, ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's listen backlog is 5: with more people opening consoles at once, the kernel
    # dropped the rest's handshakes and their browsers sent them again 1 and 3 s later
    request_queue_size = 128

    def __init__(self, config):
        self.config = config
        self.web = config.web
        # what websockify's handlers read off their server
        self.only_upgrade = False
        self.file_only = True
        self.verbose = False
        self.daemon = False
        self.record = ""
        self.run_once = False
        self.handler_id = 0
        self.traffic = False
        self.web_auth = False
        self.host_token = False
        self.logger = logging.getLogger("novaops.console_proxy.websockify")
        self.heartbeat = None
        self.target_host = self.target_port = None
        self.wrap_cmd = None
        self.unix_target = None
        self.ssl_target = None
        self.unix_listen = None
        self.auth_plugin = None
        self.token_plugin = ConsoleTokens(config)
        self.tls = None
        if config.cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(config.cert, config.key)
        family = socket.AF_INET6 if ":" in config.listen else socket.AF_INET
        self.address_family = family
        super().__init__((config.listen, config.port), ConsoleProxyHandler)

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address[0] if client_address else "-",
                  exc_info=True)


def main(argv=None):
    import argparse     # pylint: disable=import-outside-toplevel
    parser = argparse.ArgumentParser(prog="novaops-console-proxy",
                                     description="The novaops.compute console proxy (websockify + noVNC).")
    parser.add_argument("--config", required=True, help="the JSON settings file")
    args = parser.parse_args(argv)
    if not HAS_WEBSOCKIFY:
        sys.stderr.write("novaops-console-proxy: websockify is not installed (pip install websockify)\n")
        return 2
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        sys.stderr.write("novaops-console-proxy: %s\n" % exc)
        return 2
    logging.basicConfig(level=getattr(logging, str(config.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        server = ConsoleProxyServer(config)
    except (OSError, ValueError) as exc:
        sys.stderr.write("novaops-console-proxy: cannot listen on %s:%s: %s\n" % (config.listen, config.port, exc))
        return 2
    log.info("listening on %s:%s (%s), noVNC from %s, used tokens: %s", config.listen, server.server_address[1],
             "TLS" if server.tls else "plain", config.web, server.token_plugin.used.guarantee)
    sys.stdout.write("novaops-console-proxy ready %s\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

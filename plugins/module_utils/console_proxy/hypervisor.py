# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The proxy's hypervisor side: check a token's target against the live instance, then open it.

* libvirt: the domain (by UUID) must still run with the token's VNC port; then a TCP
  connection to that address and port (QEMU's VNC server; RFB from its first byte).
* XenAPI: the proxy logs in to the pool with its own credentials, the VM must still run with
  the token's console on the same host; then ``CONNECT /console?ref=<console>&session_id=<its
  session> HTTP/1.0`` to that host, over TLS checked against the configured CA by default, and
  a ``200`` answer; then RFB.  The session id goes to xapi only: never into a log or a reason.

Every refusal is a ``Refusal`` whose text a person reads in the browser; none holds a token,
session or password.
"""

from __future__ import annotations

import socket
import ssl
import time
from urllib.parse import quote

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.tls import client_context

POLICY = 1008           # WebSocket close codes (RFC 6455): the request is refused
UNAVAILABLE = 1011      # the console could not be reached


class Refusal(Exception):
    def __init__(self, reason, code=POLICY):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TLSTarget:
    """A TLS socket whose ``recv`` also returns what TLS decrypted beyond one record, so that
    a ``select`` loop (websockify's relay) never waits on bytes already read off the wire."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def recv(self, size):
        data = self.sock.recv(size)
        while data and self.sock.pending():
            data += self.sock.recv(self.sock.pending())
        return data

    def send(self, data):
        return self.sock.send(data)

    def sendall(self, data):
        return self.sock.sendall(data)

    def setsockopt(self, *args):
        return self.sock.setsockopt(*args)

    def shutdown(self, how):
        return self.sock.shutdown(how)

    def close(self):
        return self.sock.close()


def _tcp(host, port, timeout, what):
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise Refusal("The console of %s cannot be reached at %s:%s (%s)." % (what, host, port, reason),
                      UNAVAILABLE) from exc
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


# ------------------------------------------------------------------------------------ libvirt
SETTLE_SECONDS = 5.0    # how long libvirt may take, on a busy host, to see a dead QEMU as shut off


def _libvirt_problem(libvirt, uri, instance, target):
    """Why the domain no longer matches the token, or None.  A domain between states (running with no
    VNC port: QEMU starting, or just dead and not yet seen so by libvirt) is asked again for up to
    SETTLE_SECONDS before that is the answer."""
    from ansible_collections.novaops.compute.plugins.module_utils.libvirt.console_target import (
        NoVncPortYet, target_changed)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise Refusal("libvirt at %s does not answer; try again later." % uri, UNAVAILABLE) from exc
    try:
        try:
            dom = conn.lookupByUUIDString(instance["uuid"])
        except libvirt.libvirtError as exc:
            raise Refusal("Instance %s no longer exists." % instance.get("name")) from exc
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            try:
                return target_changed(dom, uri, target, settling=True)
            except NoVncPortYet:
                time.sleep(0.1)
            except libvirt.libvirtError as exc:      # undefined meanwhile
                raise Refusal("Instance %s no longer exists." % instance.get("name")) from exc
        return target_changed(dom, uri, target)
    finally:
        conn.close()


def open_libvirt(claims, config):
    """A socket to the domain's VNC server, after checking the domain still matches the token."""
    try:
        import libvirt      # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise Refusal("This console proxy cannot reach libvirt (libvirt-python is not installed).",
                      UNAVAILABLE) from exc
    instance, target = claims["inst"], claims["tgt"]
    uri = target.get("uri") or "qemu:///system"
    if uri not in config.libvirt_uris:
        raise Refusal("This console proxy does not serve libvirt at %s." % uri)
    problem = _libvirt_problem(libvirt, uri, instance, target)
    if problem:
        raise Refusal(problem[0].upper() + problem[1:])
    try:
        return _tcp(target["host"], target["port"], config.connect_timeout, "instance %s" % instance.get("name"))
    except Refusal:
        # A QEMU that has just died refuses before libvirt reports the domain shut off: the
        # person is told that, not "cannot be reached", once libvirt has caught up.
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            problem = _libvirt_problem(libvirt, uri, instance, target)
            if problem:
                raise Refusal(problem[0].upper() + problem[1:]) from None
            time.sleep(0.1)
        raise


# ------------------------------------------------------------------------------------- XenAPI
def _read_head(sock, limit=16384):
    head = b""
    while b"\r\n\r\n" not in head:
        if len(head) > limit:
            raise OSError("an HTTP answer head longer than %d bytes" % limit)
        data = sock.recv(1)
        if not data:
            break
        head += data
    return head.decode("iso-8859-1")


def open_xenapi(claims, config):
    """``(socket, close)``: the VM's console past xapi's CONNECT, after checking the VM still
    matches the token; ``close()`` ends the proxy's session when the relay ends."""
    from ansible_collections.novaops.compute.plugins.module_utils.xenapi.console_target import target_changed
    from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection
    instance, target = claims["inst"], claims["tgt"]
    pool = config.xenapi_pools.get(target.get("url"))
    if pool is None:
        raise Refusal("This console proxy does not serve the XenAPI pool of instance %s." % instance.get("name"))
    what = "instance %s" % instance.get("name")
    conn = XenAPIConnection(target["url"], pool["username"], pool["password"], config.xenapi_validate_certs,
                            config.xenapi_ca_path)
    try:
        conn.__enter__()
    except NovaopsError as exc:
        raise Refusal("The XenAPI pool of instance %s refused this console proxy's login or does not answer; "
                      "try again later." % instance.get("name"), UNAVAILABLE) from exc
    sock = None
    try:
        try:
            problem = target_changed(conn, target, instance)
        except NovaopsError as exc:
            raise Refusal("The XenAPI pool could not check instance %s: %s" % (instance.get("name"), exc.msg),
                          UNAVAILABLE) from exc
        if problem:
            raise Refusal(problem[0].upper() + problem[1:])
        sock = _tcp(target["host"], target["port"], config.connect_timeout, what)
        if target.get("scheme", "https") == "https":
            context = client_context(config.xenapi_ca_path, config.xenapi_validate_certs)
            try:
                sock = context.wrap_socket(sock, server_hostname=target["host"])
            except (ssl.SSLError, OSError) as exc:
                raise Refusal("The TLS certificate of %s's host %s is not trusted (%s)."
                              % (what, target["host"], type(exc).__name__), UNAVAILABLE) from exc
        session = conn.session._session     # pylint: disable=protected-access
        sock.settimeout(config.connect_timeout)
        sock.sendall(("CONNECT /console?ref=%s&session_id=%s HTTP/1.0\r\n\r\n"
                      % (quote(target["console"], safe=":"), quote(session, safe=":"))).encode("ascii"))
        head = _read_head(sock)
        status = head.split("\r\n", 1)[0].split(" ")
        sock.settimeout(None)
        if len(status) < 2 or status[1] != "200":
            code = status[1] if len(status) > 1 else "no answer"
            raise Refusal("The host of %s refused its console (HTTP %s)." % (what, code), UNAVAILABLE)
    except Refusal:
        _close(sock)
        conn.__exit__(None, None, None)
        raise
    except OSError as exc:
        _close(sock)
        conn.__exit__(None, None, None)
        raise Refusal("The console of %s could not be opened (%s)." % (what, type(exc).__name__), UNAVAILABLE) from exc

    def close():
        conn.__exit__(None, None, None)
    return (TLSTarget(sock) if isinstance(sock, ssl.SSLSocket) else sock), close


def _close(sock):
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass

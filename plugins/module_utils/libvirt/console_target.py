# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A running libvirt domain's VNC console: where the console proxy connects.

Read from the live XML (an ``autoport`` port changes at every start).  The address is the
listen address, or for a wildcard listen the hypervisor's address as the proxy reaches it
(``vnc_host``, else the libvirt URI's host, else loopback: a proxy on the hypervisor).  The
same function checks a token's target again at connect time (the proxy calls it).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ansible_collections.novaops.compute.plugins.module_utils.common.console_link import is_loopback, is_wildcard
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt import domain_xml as dx
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import domain_state

CONSOLE_STATES = ("running", "paused", "blocked")


class NoVncPortYet(NovaopsError):
    """The domain runs but has no VNC port: QEMU is starting, or has just died and libvirt has not yet
    seen it go (a moment either way)."""


def proxy_side_host(uri, vnc_host):
    """The hypervisor's address as the proxy reaches it."""
    if vnc_host:
        return vnc_host
    return urlsplit(uri or "").hostname or "127.0.0.1"


def console_target(dom, uri, vnc_host=None):
    """``(instance, target)`` of a domain with a VNC console, or a NovaopsError naming the cure."""
    name = dom.name()
    state, _reason = domain_state(dom)
    if state not in CONSOLE_STATES:
        raise NovaopsError("Domain %r is %s: it has a console only while it runs. Start it "
                           "(novaops.compute.libvirt_domain state=running), then ask for the console again."
                           % (name, state.replace("shutoff", "shut off")))
    vnc = dx.parse_domain_xml(dom.XMLDesc(0))["vnc"]
    if not vnc:
        raise NovaopsError("Domain %r has no VNC graphics: give it <graphics type='vnc'> (the vnc option of "
                           "novaops.compute.libvirt_domain) and restart it." % name)
    if vnc["port"] is None or vnc["port"] < 1:
        raise NoVncPortYet("Domain %r runs but libvirt reports no VNC port for it; it may still be starting, "
                           "ask again in a moment." % name)
    reach = proxy_side_host(uri, vnc_host)
    listen = vnc["listen"]
    if is_loopback(listen):
        if not is_loopback(reach):
            raise NovaopsError("Domain %r's VNC listens only on %s, which the console proxy reaching this "
                               "hypervisor at %s cannot connect to. Let it listen on an address the proxy "
                               "reaches (vnc listen of novaops.compute.libvirt_domain, then restart it), or "
                               "run the proxy on the hypervisor (vnc_host: 127.0.0.1)." % (name, listen, reach))
        host = listen
    elif is_wildcard(listen):
        host = reach
    else:
        host = listen
    instance = dict(driver="libvirt", uuid=dom.UUIDString(), name=name)
    # the domain's id is new at every start, even when an explicit or reused port stays the same
    target = dict(uri=uri, host=host, port=vnc["port"], listen=listen or "", domain_id=dom.ID())
    return instance, target


def target_changed(dom, uri, target, settling=False):
    """Why the live domain no longer matches a token's target (None when it does): the proxy's
    check at connect time.  ``settling``: a domain between states (NoVncPortYet) is not an answer
    yet - NoVncPortYet is raised for the caller to ask again."""
    try:
        _instance, now = console_target(dom, uri, target["host"] if not is_loopback(target["host"]) else None)
    except NovaopsError as exc:
        if settling and isinstance(exc, NoVncPortYet):
            raise
        return exc.msg
    if now["port"] != target["port"]:
        return ("domain %r was restarted since the console link was issued (its VNC port changed); "
                "ask for a new link" % dom.name())
    if target.get("domain_id") is not None and now["domain_id"] != target["domain_id"]:
        return ("domain %r was restarted since the console link was issued (on the same VNC port); "
                "ask for a new link" % dom.name())
    return None

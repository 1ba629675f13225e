# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A running XenAPI VM's RFB console: the host the proxy sends ``CONNECT /console`` to.

xapi keeps a VM's ``console`` objects while it runs (protocol ``rfb`` for the VNC display,
``location`` ``https://<host address>/console?uuid=<console uuid>``) and serves them on the
host the VM is resident on.  The proxy logs in with its own credentials and names the console
by its reference; no session id is in the target.  The same check runs again at connect time.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError


def _port(location, pool_url, console_port):
    if console_port:
        return console_port
    parts = urlsplit(location or "")
    if parts.port:
        return parts.port
    pool = urlsplit(pool_url or "")
    return pool.port or (80 if pool.scheme == "http" else 443)


def console_target(conn, vm_ref, vm, console_port=None):
    """``(instance, target)`` of a running VM's rfb console, or a NovaopsError naming the cure."""
    label = vm["name_label"]
    if vm["power_state"] != "Running":
        raise NovaopsError("VM %r (%s) is %s: it has a console only while it runs. Start it "
                           "(novaops.compute.xen_vm state=running), then ask for the console again."
                           % (label, vm["uuid"], vm["power_state"]))
    chosen = None
    for ref in conn.call("VM.get_consoles", vm_ref):
        record = conn.call("console.get_record", ref)
        if record["protocol"] == "rfb":
            chosen = (ref, record)
            break
    if chosen is None:
        raise NovaopsError("VM %r (%s) runs but has no rfb (VNC) console; a VM without a graphical display "
                           "(an HVM VM gets one, a PV VM gets vncterm's) has none to open." % (label, vm["uuid"]))
    ref, console = chosen
    host = conn.call("host.get_address", vm["resident_on"])
    scheme = "http" if urlsplit(conn.url).scheme == "http" else "https"
    instance = dict(driver="xenapi", uuid=vm["uuid"], name=label)
    target = dict(url=conn.url, scheme=scheme, host=host, port=_port(console["location"], conn.url, console_port),
                  console=ref, console_uuid=console["uuid"], location=console["location"])
    return instance, target


def target_changed(conn, target, instance):
    """Why the live VM no longer matches a token's target (None when it does): the proxy's check."""
    ref, vm = conn.find("VM", uuid=instance["uuid"], required=False)
    if ref is None:
        return "VM %s no longer exists" % instance["uuid"]
    try:
        _instance, now = console_target(conn, ref, vm, target["port"])
    except NovaopsError as exc:
        return exc.msg
    if now["console"] != target["console"] or now["host"] != target["host"]:
        return ("VM %r was restarted or moved since the console link was issued; ask for a new link"
                % vm["name_label"])
    return None

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filters the boot role wires XenAPI VIFs with: which Open vSwitch port each VIF is on, and whether
there is anything to wire."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# dom0 names a running domain's VIF port vif<domid>.<device>; the domid is new at every start
DOMAIN_PORT_RE = re.compile(r"vif[0-9]+\.[0-9]+")


def xenapi_vif_ports(vifs, vm):
    """The port of each of ``vifs`` (the inventory's), in their order: a given ``port`` where dom0 names
    it otherwise; else dom0's port of the VM's running domain (``vm.vifs[i].port``, as xen_vm and
    xen_vm_info return it); else ''.  A given ``vif<domid>.<device>`` is an earlier domain's (what
    the docs once asked for): never used, the running domain's port is."""
    if not isinstance(vifs, list) or not all(isinstance(vif, dict) for vif in vifs):
        raise AnsibleFilterError("xenapi_vif_ports: the VIFs must be a list of dicts, not %s" % type(vifs).__name__)
    running = [(vif or {}).get("port") or "" for vif in ((vm or {}).get("vifs") or [])]
    ports = []
    for index, vif in enumerate(vifs):
        given = vif.get("port") or ""
        if given and not DOMAIN_PORT_RE.fullmatch(given):
            ports.append(given)
        else:
            ports.append(running[index] if index < len(running) else "")
    return ports


def xenapi_vifs_to_wire(vifs, vm):
    """Whether the VIFs get flows or queues: some VIF has ips (anti-spoofing) or max_rate (a queue), and the VM
    has a domain (running or paused: dom0 gave its VIFs ports) or a port is given where dom0 names it otherwise.
    A halted VM has no port to wire."""
    ports = xenapi_vif_ports(vifs, vm)
    wanted = any("ips" in vif or "max_rate" in vif for vif in vifs)
    return wanted and ((vm or {}).get("power_state") in ("running", "paused") or any(ports))


class FilterModule:
    def filters(self):
        return {"xenapi_vif_ports": xenapi_vif_ports, "xenapi_vifs_to_wire": xenapi_vifs_to_wire}

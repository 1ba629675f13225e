# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Open vSwitch VIFs a live migration's destination needs before the guest arrives.

Nova plugged the VIFs on the destination in pre_live_migration and unplugged them on the
source only once the guest ran there. Here the list comes from the desired state
``libvirt_domain`` recorded in the domain's metadata: each OVS VIF with its tap, its
anti-spoofing flows and its HTB queue, in the shape ``ovs_vif`` and ``ovs_qos_queue``
take (the ``live_migrate`` role runs them on the destination host, and on the source
afterwards to remove what the guest left there).

A caller that plugs them first (``vifs_plugged_first``) must know where: an instance with OVS
VIFs then needs its destination named (not chosen among candidates) and the host to plug them
on, or it is refused before anything changes (``unplaced``).
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.libvirt.vif_wiring import queue_table


def ovs_vifs(desired, vm_uuid):
    """[{port, bridge, mac, ips, iface_id, vm_uuid, anti_spoofing, next_table, qos}] of the recorded
    desired state (None when the domain has none): its OVS VIFs that have a tap of their own."""
    out = []
    for vif in (desired or {}).get("vifs") or []:
        if vif.get("type") != "ovs" or not vif.get("dev") or not vif.get("bridge"):
            continue
        table = queue_table(vif)
        qos = vif.get("qos") or None
        if qos:
            qos = dict(port=qos["port"], queue_id=int(qos["queue_id"]), max_rate=int(qos["max_rate"]),
                       flow_table=table)
        out.append(dict(port=vif["dev"], bridge=vif["bridge"], mac=vif["mac"], ips=list(vif.get("ips") or []),
                        iface_id=vif.get("id") or None, vm_uuid=vm_uuid, anti_spoofing=bool(vif.get("anti_spoofing")),
                        # the anti-spoofing flows hand what they allow to the queue flows' table
                        next_table=table if qos and table else None, qos=qos))
    return out


def vif_queues(vifs):
    """The HTB queue of each rate-limited VIF of ``vifs`` (ovs_vifs'), in ovs_qos_queue's options:
    [{port (the uplink), bridge, queue_id, max_rate, source_ips, flow_table}]."""
    return [dict(port=vif["qos"]["port"], bridge=vif["bridge"], queue_id=vif["qos"]["queue_id"],
                 max_rate=vif["qos"]["max_rate"], source_ips=vif["ips"], flow_table=vif["qos"]["flow_table"])
            for vif in vifs if vif["qos"]]


def unplaced(name, vifs, dest_uri, vif_host):
    """The refusal (a sentence) when domain ``name`` has OVS ``vifs`` to plug on the destination first but the
    destination is not named (``dest_uri``) or the host to plug them on (``vif_host``) is not set; else None.
    The live_migrate role's and the playbooks' variables are named beside the options: the operator sets those."""
    if not vifs:
        return None
    missing = []
    if not dest_uri:
        missing.append("name the destination (dest_uri, not chosen among dest_candidates: the live_migrate role's "
                       "live_migrate_dest, the playbooks' dest or evacuate_libvirt_dest)")
    if not vif_host:
        missing.append("set vif_host (the live_migrate role's live_migrate_dest_host, the playbooks' dest_host or "
                       "evacuate_libvirt_dest_host) to the destination hypervisor as the inventory names it")
    if not missing:
        return None
    return "Domain %s has Open vSwitch VIFs (%s), which are plugged on the destination host before it moves: %s." % (
        name, ", ".join(vif["port"] for vif in vifs), " and ".join(missing))

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filters the boot role passes the inventory's VIFs through: each driver's module takes its own keys of
them (the inventory's VIF carries both drivers' keys and the wiring's, see docs/roles.md)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# the keys of an inventory VIF that xen_vm's vifs and libvirt_domain's vifs take as they are
XEN_VM_KEYS = ("network", "mac", "device")
LIBVIRT_DOMAIN_KEYS = ("id", "bridge", "type", "mac", "model", "mtu", "ips")


def _checked(vifs, name):
    if not isinstance(vifs, list) or not all(isinstance(vif, dict) for vif in vifs):
        raise AnsibleFilterError("%s: the VIFs must be a list of dicts, not %s" % (name, type(vifs).__name__))
    return vifs


def xen_vm_vifs(vifs):
    """The VIFs as xen_vm takes them: each one's network, mac and device (those it gives)."""
    return [dict((key, vif[key]) for key in XEN_VM_KEYS if key in vif) for vif in _checked(vifs, "xen_vm_vifs")]


def libvirt_domain_vifs(vifs, qos_port=""):
    """The VIFs as libvirt_domain takes them: a VIF with ips keeps anti-spoofing flows on its tap, one with
    max_rate a queue (its queue_id) in the QoS of ``qos_port`` - libvirt_domain refuses a missing one by name."""
    shaped = []
    for vif in _checked(vifs, "libvirt_domain_vifs"):
        one = dict((key, vif[key]) for key in LIBVIRT_DOMAIN_KEYS if key in vif)
        one["anti_spoofing"] = "ips" in vif
        if "max_rate" in vif:
            one["qos"] = dict(port=qos_port, queue_id=vif.get("queue_id"), max_rate=vif["max_rate"])
        shaped.append(one)
    return shaped


class FilterModule:
    def filters(self):
        return {"xen_vm_vifs": xen_vm_vifs, "libvirt_domain_vifs": libvirt_domain_vifs}

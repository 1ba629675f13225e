# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The VMs of one XenServer pool, as the inventory plugin sees them.

One session per pool reads each class the facts need once (``get_all_records`` of VM, VBD,
VDI, SR, VIF, network and pool: seven calls, whatever the pool's size), then builds every
VM's facts with xen_vm_facts.vm_facts, the same shape xen_vm and xen_vm_info return.  The
desired state and the operation lock come from the VM's ``other_config``; an original is
rescued while a VM named ``<name>-rescue`` exists (Nova's convention).
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common import instance_health as health
from ansible_collections.novaops.compute.plugins.module_utils.common import operation_lock
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.resize_record import waiting
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_facts import (
    DESIRED_KEY, Records, is_plain_vm, public_facts, vm_facts)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection
from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_inventory import SourceError, local_connection_vars

CLASSES = ("VBD", "VDI", "SR", "VIF", "network")
RESCUE_SUFFIX = "-rescue"
DISK_KEYS = ("userdevice", "device", "type", "bootable", "mode", "vdi_uuid", "vdi_name", "size", "sr_uuid",
             "sr_name", "owned", "vhd_parent", "currently_attached")
VIF_KEYS = ("device", "uuid", "mac", "mtu", "network_uuid", "network_name", "bridge", "currently_attached")


class Pool:
    """Where one pool is and how to log in; the password stays here (never in host variables)."""

    def __init__(self, url, username="root", password=None, validate_certs=True, ca_path=None, name=None):
        if not url:
            raise SourceError("A pool has no url (give url, or set XENAPI_URL).")
        # str(): the options arrive as tagged strings, which the XML-RPC marshaller refuses
        url = str(url)
        self.url = url if "://" in url else "https://%s" % url
        self.username = str(username or "root")
        self.password = str(password) if password is not None else None
        self.validate_certs = bool(validate_certs)
        self.ca_path = str(ca_path) if ca_path else None
        self.name = str(name) if name else None

    def connect(self):
        return XenAPIConnection(self.url, self.username, self.password, self.validate_certs, self.ca_path)


def vm_instance(pool, pool_label, facts, rescue_names):
    """The instance dict of one VM."""
    other = facts.get("other_config") or {}
    recorded = other.get(DESIRED_KEY)
    return dict(
        driver="xenapi", name=facts["name"], uuid=facts["uuid"], hypervisor=pool_label,
        power_state=health.xen_power_state(facts["power_state"]), state_reason=None,
        desired_state=health.xen_desired_state(recorded), desired_recorded=recorded,
        rescued=facts["name"] + RESCUE_SUFFIX in rescue_names, task=operation_lock.from_other_config(other),
        resize=waiting(other),
        disks=[dict((k, d.get(k)) for k in DISK_KEYS) for d in public_facts(facts["disks"])],
        vifs=[dict((k, v.get(k)) for k in VIF_KEYS) for v in public_facts(facts["vifs"])],
        missing_base=[], missing_ports=[], connection=local_connection_vars(),
        extra_vars=dict(xenapi_url=pool.url, xenapi_pool=pool_label, xenapi_validate_certs=pool.validate_certs,
                        xenapi_ca_path=pool.ca_path, power_state_raw=facts["power_state"],
                        vcpus=facts["vcpus"], memory_mb=facts["memory_mb"], bootlocked=facts["bootlocked"]),
        role_vars=dict(compute_driver="xenapi", instance_name=facts["name"], instance_uuid=facts["uuid"],
                       xenapi_url=pool.url, xenapi_validate_certs=pool.validate_certs, xenapi_ca_path=pool.ca_path))


def read_pool(pool, wanted=None):
    """Instance dicts of the plain VMs of a pool (not templates, snapshots or the control domain) whose
    names are wanted (all by default)."""
    try:
        with pool.connect() as conn:
            records = Records(conn)
            vms = records.all("VM")
            for cls in CLASSES:
                records.all(cls)
            pools = conn.call("pool.get_all_records")
            pool_label = pool.name or next((p.get("name_label") for p in pools.values() if p.get("name_label")),
                                           None) or pool.url
            plain = dict((ref, rec) for ref, rec in vms.items() if is_plain_vm(rec))
            names = set(rec.get("name_label") for rec in plain.values())
            return [vm_instance(pool, pool_label, vm_facts(records, ref, rec), names) for ref, rec in plain.items()
                    if wanted is None or wanted(rec.get("name_label"))]
    except NovaopsError as exc:
        raise SourceError("XenAPI pool %s: %s" % (pool.name or pool.url, exc))

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_vm_info
short_description: Everything about XenServer VMs - record, power, disks with VHD chains, VIFs, consoles, snapshots
version_added: 0.1.0
description:
  - Returns, for one VM (by O(uuid) or O(name)) or all VMs matching O(filters), the VM record and
    power state, C(blocked_operations), C(other_config), disks (VBD, VDI, SR, virtual size and the
    C(vhd-parent) chain), VIFs, console locations by protocol, snapshots and whether it is a template.
  - Reads each XenAPI class with one call (whole records), whatever the number of VMs.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.info_module
options:
  uuid:
    description: UUID of the VM (a template or snapshot too). A malformed UUID is an error.
    type: str
  name:
    description:
      - Name (C(name_label)) of the VM. Several VMs of one name are all returned.
      - Templates, snapshots and the control domain are left out unless O(include_templates),
        O(include_snapshots) or O(include_control_domain) say otherwise.
    type: str
    aliases: [ name_label ]
  filters:
    description:
      - With neither O(uuid) nor O(name), all VMs whose record matches every filter.
      - Keys are VM record fields (C(power_state), C(name_label), C(is_a_template)) or map entries
        written C(other_config.<key>); values are shell-style patterns, compared case-insensitively.
    type: dict
    default: {}
  include_templates:
    description: Whether look-ups by name or filter include templates.
    type: bool
    default: false
  include_snapshots:
    description: Whether look-ups by name or filter include snapshots.
    type: bool
    default: false
  include_control_domain:
    description: Whether look-ups by name or filter include the control domain.
    type: bool
    default: false
  chains:
    description: Whether to walk the VHD chain (C(vhd-parent)) of each disk. Costs one call per SR.
    type: bool
    default: true
  record:
    description: Whether to return the VM's whole XenAPI record.
    type: bool
    default: true
seealso:
  - module: novaops.compute.xen_vm
'''

EXAMPLES = r'''
- name: One VM by name
  novaops.compute.xen_vm_info:
    name: instance-0001
  register: info

- name: Its console
  ansible.builtin.debug:
    msg: "{{ info.vm.consoles.rfb }}"

- name: The VHD chain of its root disk
  ansible.builtin.debug:
    msg: "{{ info.vm.disks[0].chain }}"

- name: Every running VM the collection manages and meant to be running
  novaops.compute.xen_vm_info:
    filters:
      power_state: running
      other_config.novaops_desired_state: running
    record: false
  register: fleet

- name: Is there a rescue VM?
  novaops.compute.xen_vm_info:
    name: instance-0001-rescue
  register: rescue
  failed_when: rescue.exists
'''

RETURN = r'''
exists:
  description: Whether at least one VM matched.
  returned: always
  type: bool
vm:
  description: The VM when exactly one matched, else null. Same shape as the entries of RV(vms).
  returned: always
  type: dict
vms:
  description: Every VM that matched, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    uuid:
      description: UUID of the VM.
      type: str
    name:
      description: C(name_label).
      type: str
    description:
      description: C(name_description).
      type: str
    power_state:
      description: running, halted, suspended or paused.
      type: str
    is_a_template:
      description: Whether the VM is a template.
      type: bool
    is_a_snapshot:
      description: Whether the VM is a snapshot.
      type: bool
    vcpus:
      description: C(VCPUs_at_startup).
      type: int
    vcpus_max:
      description: C(VCPUs_max).
      type: int
    memory_mb:
      description: Static maximum memory, MiB.
      type: int
    memory:
      description: The four memory limits in bytes.
      type: dict
    blocked_operations:
      description: C(blocked_operations); C(start) there is a bootlock.
      type: dict
    bootlocked:
      description: Whether C(start) is blocked.
      type: bool
    desired_state:
      description: The state xen_vm last brought the VM to (C(other_config) C(novaops_desired_state)).
      type: str
    other_config:
      description: C(other_config).
      type: dict
    xenstore_data:
      description: C(xenstore_data).
      type: dict
    disks:
      description:
        - VBDs by C(userdevice) with their VDI - uuid, name, size (bytes and GiB), SR uuid and name,
          C(vhd_parent) and C(chain) (the VDI then its parents, by uuid), whether this VM owns it.
      type: list
      elements: dict
    vdi_by_userdevice:
      description:
        - The VDI uuid in each C(userdevice) (an empty drive left out) - C(0) is the root disk.
      type: dict
      sample: {"0": 4f0d2c9e-2f5b-4ad1-8d0e-0c1f7a9b6e21}
    vifs:
      description:
        - VIFs - device, uuid, MAC, MTU, network uuid and name, bridge, whether plugged.
        - C(port), while the VM runs, is dom0's device and Open vSwitch port of the VIF, C(vif<domid>.<device>);
          the domid is new at every start, so the port changes when the VM restarts.
      type: list
      elements: dict
    consoles:
      description: Console locations by protocol (C(rfb), C(vt100)); present while the VM runs.
      type: dict
    snapshots:
      description: Snapshots of the VM - uuid, name, time - oldest first.
      type: list
      elements: dict
    record:
      description: The whole XenAPI VM record (with O(record)).
      type: dict
  sample:
    - uuid: 0f5c3c62-1d8a-4bd1-9b37-1a3e3bd5a6a1
      name: instance-0001
      power_state: running
      is_a_template: false
      vcpus: 2
      memory_mb: 2048
      bootlocked: false
      blocked_operations: {}
      disks:
        - userdevice: "0"
          vdi_uuid: 4f0d2c9e-2f5b-4ad1-8d0e-0c1f7a9b6e21
          size: 21474836480
          sr_name: Local storage
          vhd_parent: 9a1c6e02-5b7d-4c3e-8f10-2d4b6a8c0e13
          chain: [4f0d2c9e-2f5b-4ad1-8d0e-0c1f7a9b6e21, 9a1c6e02-5b7d-4c3e-8f10-2d4b6a8c0e13]
      vifs:
        - device: "0"
          mac: "02:16:3e:00:00:01"
          network_name: Pool-wide network associated with eth0
      consoles:
        rfb: https://192.0.2.10/console?uuid=7d7e2a8c-8f2a-4b8c-9c1e-1c2d3e4f5a6b
      snapshots: []
xenapi_error:
  description: The XenAPI failure behind an error.
  returned: on a XenAPI failure
  type: dict
'''

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection, xenapi_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_facts import (
    Records, match_filters, public_facts, vm_facts)

# Above this many VMs, reading whole classes beats one look-up per VM.
PREFETCH_ABOVE = 2


def argument_spec():
    return xenapi_argument_spec().merge(ArgumentSpec(dict(
        uuid=dict(type="str"),
        name=dict(type="str", aliases=["name_label"]),
        filters=dict(type="dict", default={}),
        include_templates=dict(type="bool", default=False),
        include_snapshots=dict(type="bool", default=False),
        include_control_domain=dict(type="bool", default=False),
        chains=dict(type="bool", default=True),
        record=dict(type="bool", default=True),
    ), mutually_exclusive=[["uuid", "name"]], input_rules={"uuid": rules.Uuid("VM")}))


def select(records, params):
    if params["uuid"]:
        return records.where("VM", "uuid", params["uuid"])
    if params["name"] is not None:
        found = records.where("VM", "name_label", params["name"])
    else:
        found = records.all("VM")
    chosen = {}
    for ref, rec in found.items():
        if rec.get("is_a_template") and not rec.get("is_a_snapshot") and not params["include_templates"]:
            continue
        if rec.get("is_a_snapshot") and not params["include_snapshots"]:
            continue
        if rec.get("is_control_domain") and not params["include_control_domain"]:
            continue
        if match_filters(rec, params["filters"]):
            chosen[ref] = rec
    return chosen


def gather(conn, params):
    records = Records(conn)
    chosen = select(records, params)
    if len(chosen) > PREFETCH_ABOVE:
        for cls in ("VBD", "VDI", "VIF", "console"):
            records.all(cls)
    vms = [public_facts(vm_facts(records, ref, rec, chain=params["chains"], consoles=True, snapshots=True,
                                 record=params["record"]))
           for ref, rec in chosen.items()]
    vms.sort(key=lambda v: (v["name"], v["uuid"]))
    return dict(changed=False, exists=bool(vms), vm=vms[0] if len(vms) == 1 else None, vms=vms)


def main():
    module = argument_spec().create_ansible_module(NovaopsModule)
    with module.failing_clearly():
        with XenAPIConnection.from_params(module.params) as conn:
            module.exit_json(**gather(conn, module.params))


if __name__ == "__main__":
    main()

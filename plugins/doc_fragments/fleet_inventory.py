# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Options both inventory plugins (novaops.compute.libvirt, novaops.compute.xenapi) share; each plugin
    # adds its own name as the choice of O(plugin).
    DOCUMENTATION = r'''
options:
  plugin:
    description:
      - Marks the file as a configuration of this plugin.
      - The plugin reads a configuration file whose name ends in C(.novaops_libvirt.yml) or C(.novaops_libvirt.yaml)
        (the libvirt plugin) or in C(.novaops_xenapi.yml) or C(.novaops_xenapi.yaml) (the XenAPI plugin), and any
        other YAML file whose C(plugin) key names it.
    type: str
    required: true
  include:
    description: Only instances whose name matches one of these shell patterns.
    type: list
    elements: str
    default: ['*']
  exclude:
    description: Leave out instances whose name matches one of these shell patterns.
    type: list
    elements: str
    default: []
  hostname:
    description:
      - The inventory name of an instance, its V(name) or V(uuid). Names found more than once get
        C(_<uuid prefix>) appended, with a warning; an instance listed by two sources is kept once.
    type: str
    choices: [name, uuid]
    default: name
  connection_vars:
    description:
      - Set the connection variables that make the tasks of an instance run where its modules must run - on its
        hypervisor for libvirt, on the controller (C(ansible_connection=local)) for XenAPI.
    type: bool
    default: true
  role_vars:
    description:
      - Also set the instance variables the collection's roles read (C(docs/roles.md)) - C(compute_driver),
        C(instance_name), C(instance_uuid), and C(libvirt_uri) (the URI on the hypervisor),
        C(libvirt_instances_path), C(libvirt_virt_type) or C(xenapi_url), C(xenapi_validate_certs),
        C(xenapi_ca_path) (never a password) - so that their playbooks (C(novaops.compute.hard_reboot), ...) run
        on this inventory.
    type: bool
    default: true
  fail_on_errors:
    description:
      - Fail when a source (a libvirt URI, a XenServer pool) cannot be read. With V(false) it is skipped with a
        warning and listed in the variable C(novaops_unreachable_libvirt) or C(novaops_unreachable_xenapi) of the
        group C(all).
    type: bool
    default: true
notes:
  - Every instance is in one state group - C(running), C(shutoff), C(paused), C(suspended) or C(crashed) - and in
    C(needs_repair) when it is not in its desired state; C(rescued) and C(busy) instances are never in
    C(needs_repair). These groups, and C(libvirt) or C(xenapi), exist even when empty.
  - Values read from the hypervisors are never templated.
'''

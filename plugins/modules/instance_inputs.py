#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: instance_inputs
short_description: Check the inventory variables a role of the collection reads, naming them in the message
version_added: 0.1.0
description:
  - The first task of each role of the collection. Fails, before any module runs, when the inventory variable
    C(compute_driver) is not V(libvirt) or V(xenapi), or when the role takes a flavor and C(instance_flavor) lacks
    C(vcpus) or C(memory_mb) or holds a size that is not a whole number.
  - With O(cold_migration), the evacuate playbook's cold fallback settings are checked for the driver too (for
    libvirt C(evacuate_libvirt_dest) and C(evacuate_cold.ssh.host); for XenAPI C(evacuate_cold.xenapi.pool.url),
    C(evacuate_cold.xenapi.ssh.host) and the template, C(evacuate_cold.xenapi.template) or when unset the
    inventory's C(instance_template)), and the refusal names each one missing.
  - The message names the inventory variable the operator set (and the role's own variable it feeds), with no dump
    of the role's argument spec.
  - Runs on the controller (an action plugin); it never changes anything and always reports C(changed=false).
author: novaops.compute maintainers (@novaops)
attributes:
  check_mode:
    description: Runs in check mode as in a normal run.
    support: full
  diff_mode:
    description: No diff; it changes nothing.
    support: none
options:
  role:
    description: The role's name (its variables are C(<role>_driver), C(<role>_flavor)), for the message.
    type: str
    required: true
  driver:
    description: The compute driver (the role's C(<role>_driver), by default C(compute_driver)).
    type: raw
  flavor:
    description:
      - The flavor (the role's C(<role>_flavor), by default C(instance_flavor)); checked only when given.
    type: raw
  cold_migration:
    description:
      - The evacuate playbook's C(evacuate_cold) (a dict), checked for O(driver) only when given.
    type: raw
  cold_dest:
    description: libvirt - the cold migration's destination URI (the evacuate playbook's C(evacuate_libvirt_dest)).
    type: raw
    default: ""
  template:
    description:
      - XenAPI - the inventory's C(instance_template), the cold migration's template when
        C(evacuate_cold.xenapi.template) is unset.
    type: raw
    default: ""
'''

EXAMPLES = r'''
- name: The driver and the flavor as the operator set them
  novaops.compute.instance_inputs:
    role: boot
    driver: "{{ boot_driver }}"
    flavor: "{{ boot_flavor }}"

- name: The evacuate playbook's cold fallback has what it needs on the instance's driver
  novaops.compute.instance_inputs:
    role: resize
    driver: "{{ novaops_driver }}"
    cold_migration: "{{ evacuate_cold | default({}) }}"
    cold_dest: "{{ evacuate_libvirt_dest | default('') }}"
    template: "{{ instance_template | default('') }}"
'''

RETURN = r'''
msg:
  description: What is wrong, naming the inventory variables.
  returned: failure
  type: str
  sample: "compute_driver is 'vmware' (the boot role's boot_driver); it must be libvirt or xenapi."
'''

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
name: xenapi
short_description: XenServer/XCP-ng VMs of many pools as hosts, grouped by what needs repair
version_added: 0.1.0
description:
  - Reads every VM (not templates, snapshots or control domains) of one or more XenServer pools through XenAPI
    and makes each an inventory host, with its pool, power state, the desired state that
    M(novaops.compute.xen_vm) records in C(other_config:novaops_desired_state), its disks and VIFs as variables.
  - Groups every VM by power state - C(running), C(shutoff) (halted), C(paused), C(suspended) - and into
    C(needs_repair) when its power state differs from the desired one. C(rescued) holds originals whose
    C(<name>-rescue) VM exists, C(busy) the VMs an operation is working on (the operation lock in
    C(other_config:novaops_task_state)) and both VMs of a resize that waits for confirm or revert (the original
    marked C(novaops_resize_prior_state), the resized copy C(novaops_resize_of), as Nova's C(RESIZED)); neither
    group is ever put into C(needs_repair). All VMs are in the group
    C(xenapi). The groups exist even when empty.
  - Seven XenAPI calls per pool, whatever its size.
  - Hosts get C(ansible_connection=local) (the modules talk to XenAPI from the controller or execution
    environment) and C(novaops_xenapi_url), C(novaops_xenapi_validate_certs), C(novaops_xenapi_ca_path) for the
    modules' connection options. The password is never written into host variables or the cache.
author: novaops.compute maintainers (@novaops)
requirements:
  - XenAPI (the Python SDK) on the controller
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - novaops.compute.fleet_inventory
options:
  plugin:
    choices: [novaops.compute.xenapi]
  url:
    description:
      - The XenAPI URL of a pool master (C(https://xs1.example.com)). Used when O(pools) is empty, and as the
        default of each pool's C(url).
    type: str
    env:
      - name: XENAPI_URL
  username:
    description: The user to log in as; the default of each pool's C(username).
    type: str
    default: root
    env:
      - name: XENAPI_USERNAME
  password:
    description: The password; the default of each pool's C(password). Never written into host variables.
    type: str
    env:
      - name: XENAPI_PASSWORD
  validate_certs:
    description: Verify the pools' TLS certificates; the default of each pool's C(validate_certs).
    type: bool
    default: true
    env:
      - name: XENAPI_VALIDATE_CERTS
  ca_path:
    description: A CA bundle to verify the pools' certificates with; the default of each pool's C(ca_path).
    type: path
    env:
      - name: XENAPI_CA_PATH
  pools:
    description:
      - The pools. Each item is a URL, or a dict with C(url) and optionally C(name) (the label,
        C(novaops_hypervisor); the pool's name_label by default), C(username), C(password), C(password_env)
        (the name of an environment variable holding the password, as AWX credential injectors set them),
        C(validate_certs) and C(ca_path), which default to the options of the same name.
    type: list
    elements: raw
    default: []
notes:
  - Host variables (all prefixed C(novaops_)) - C(driver), C(name), C(uuid), C(hypervisor), C(xenapi_pool),
    C(xenapi_url), C(xenapi_validate_certs), C(xenapi_ca_path), C(power_state), C(power_state_raw),
    C(desired_state), C(desired_recorded), C(rescued), C(bootlocked), C(task) (the operation lock), C(resize) (the resize mark, or null), C(busy),
    C(needs_repair), C(repair) (V(hard_reboot) or V(converge)), C(repair_reasons), C(disks), C(vifs), C(vcpus),
    C(memory_mb).
seealso:
  - module: novaops.compute.xen_vm
  - module: novaops.compute.xen_vm_info
'''

EXAMPLES = r'''
# pools.novaops_xenapi.yml; XENAPI_USERNAME and XENAPI_PASSWORD come from the environment
plugin: novaops.compute.xenapi
ca_path: /etc/novaops/xenserver-ca.pem
pools:
  - url: https://xs-pool-a.example.com
    name: pool-a
  - url: https://xs-pool-b.example.com
    name: pool-b
    password_env: XENAPI_POOL_B_PASSWORD
exclude: ['novaops-helper']
keyed_groups:
  - key: novaops_xenapi_pool
    prefix: pool
compose:
  ansible_python_interpreter: "'/usr/bin/python3'"
'''

import os

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_inventory import FleetInventory, SourceError
from ansible_collections.novaops.compute.plugins.plugin_utils.xenapi_fleet import Pool, read_pool

POOL_KEYS = ("url", "name", "username", "password", "password_env", "validate_certs", "ca_path")


class InventoryModule(FleetInventory):
    NAME = "novaops.compute.xenapi"
    DRIVER = "xenapi"
    FILE_SUFFIXES = (".novaops_xenapi.yml", ".novaops_xenapi.yaml")

    def sources(self):
        items = self.get_option("pools") or [self.get_option("url")]
        pools = []
        for item in items:
            if item is None or isinstance(item, str):
                item = dict(url=item)
            if not isinstance(item, dict) or not set(item) <= set(POOL_KEYS):
                raise SourceError("Each item of pools is a URL or a dict with %s; got %r." % (
                    ", ".join(POOL_KEYS), sorted(item) if isinstance(item, dict) else item))
            password = item.get("password")
            if password is None and item.get("password_env"):
                password = os.environ.get(item["password_env"])
                if password is None:
                    raise SourceError("The environment variable %s (password_env of pool %s) is not set." % (
                        item["password_env"], item.get("name") or item.get("url")))
            validate = item.get("validate_certs")
            pools.append(Pool(item.get("url") or self.get_option("url"),
                              item.get("username") or self.get_option("username"),
                              password if password is not None else self.get_option("password"),
                              self.get_option("validate_certs") if validate is None else boolean(validate, strict=False),
                              item.get("ca_path") or self.get_option("ca_path"), item.get("name")))
        return pools

    def source_label(self, source):
        return source.name or source.url

    def read_source(self, source):
        return read_pool(source, wanted=self.included)

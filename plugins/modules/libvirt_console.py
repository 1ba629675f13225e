#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: libvirt_console
short_description: A browser console link for a running libvirt domain, through the console proxy
version_added: 0.1.0
description:
  - Finds the running domain's VNC console in its live XML (address and port; an C(autoport) port changes
    at every start) and issues a signed, expiring, single-use token for it, bound to the domain and that
    port. Returns the noVNC page of the console proxy with the token.
  - Refuses, naming the cure, a domain that is shut off, has no VNC graphics, or listens only on loopback
    while the proxy reaches the hypervisor elsewhere.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.libvirt
  - novaops.compute.console
options:
  name:
    description: The domain's name, when O(uuid) is not given.
    type: str
  uuid:
    description:
      - The domain's UUID. When given, it finds the domain and O(name) is not looked at.
    type: str
  vnc_host:
    description:
      - The hypervisor's address as the console proxy reaches it, for a domain listening on all addresses.
      - Default the libvirt URI's host, or C(127.0.0.1) for a local URI (a proxy on the hypervisor).
    type: str
'''

EXAMPLES = r'''
- name: A console link for web-01
  novaops.compute.libvirt_console:
    name: web-01
    proxy_url: https://console.example.com:6080/
    token_key: "{{ vault_console_key }}"
  register: console

- name: Show it
  ansible.builtin.debug:
    msg: "{{ console.url }} (until {{ console.expires_at }})"
'''

RETURN = r'''
url:
  description: The console page with the token; opens once, until RV(expires_at). Empty in check mode.
  returned: success
  type: str
  sample: https://console.example.com:6080/vnc_lite.html?path=websockify%3Ftoken%3DeyJ...
expires_at:
  description: When the link expires, UTC, ISO 8601.
  returned: success
  type: str
  sample: "2026-12-07T10:10:00Z"
protocol:
  description: The console protocol.
  returned: success
  type: str
  sample: vnc
instance:
  description: The domain the link is bound to (driver, uuid, name).
  returned: success
  type: dict
target:
  description:
    - Where the proxy connects (uri, host, port, listen).
    - C(domain_id), the running domain's id, new at every start, so that a restart on the same port ends earlier links.
  returned: success
  type: dict
  sample: {uri: "qemu:///system", host: 127.0.0.1, port: 5900, listen: 127.0.0.1, domain_id: 7}
libvirt_error:
  description: The libvirt error behind a failure.
  returned: on a libvirt failure
  type: dict
'''

import time

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.console_link import (
    check_options, console_argument_spec, issue_link)
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    LibvirtConnection, libvirt_argument_spec, quiet_libvirt_errors)
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.console_target import console_target


def argument_spec():
    return ArgumentSpec(dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        vnc_host=dict(type="str"),
    ), required_one_of=[("name", "uuid")]).merge(
        libvirt_argument_spec()).merge(console_argument_spec())


def main():
    module = argument_spec().create_ansible_module(NovaopsModule)
    quiet_libvirt_errors()
    p = module.params
    with module.failing_clearly():
        check_options(p)
        if p["uuid"]:
            check_uuid(p["uuid"], "domain")
        with LibvirtConnection.from_params(p) as conn:
            dom = conn.lookup(name=p["name"], uuid=p["uuid"], required=True)
            instance, target = console_target(dom, conn.uri, p["vnc_host"])
        module.exit_json(**issue_link(p, "libvirt", instance, target, time.time(), module.check_mode))


if __name__ == "__main__":
    main()

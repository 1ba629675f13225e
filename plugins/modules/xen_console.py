#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_console
short_description: A browser console link for a running XenAPI VM, through the console proxy
version_added: 0.1.0
description:
  - Finds the running VM's C(rfb) console (its reference and location) and the address of the host it
    runs on, and issues a signed, expiring, single-use token for it, bound to the VM and that console.
    Returns the noVNC page of the console proxy with the token.
  - The proxy, not the browser, opens the XenAPI session (with its own credentials) and sends
    C(CONNECT /console); no session id is in the link or in the result.
  - Refuses, naming the cure, a VM that is not running or has no rfb console.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.console
options:
  uuid:
    description:
      - The VM's UUID. When given, it finds the VM and O(name) is not looked at.
    type: str
  name:
    description:
      - The VM's name label (one VM must have it), when O(uuid) is not given.
    type: str
    aliases: [ name_label ]
  console_port:
    description:
      - The port xapi serves consoles on at the VM's host. Default the console location's port, else the
        pool URL's port, else 443.
    type: int
'''

EXAMPLES = r'''
- name: A console link for web-01
  novaops.compute.xen_console:
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
  description: The VM the link is bound to (driver, uuid, name).
  returned: success
  type: dict
target:
  description: Where the proxy connects (pool url, scheme, host, port, console reference and uuid, location).
  returned: success
  type: dict
xenapi_error:
  description: The XenAPI failure behind an error.
  returned: on a XenAPI failure
  type: dict
'''

import time

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.console_link import (
    check_options, console_argument_spec, issue_link)
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.console_target import console_target
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection, xenapi_argument_spec


def argument_spec():
    return xenapi_argument_spec().merge(ArgumentSpec(dict(
        uuid=dict(type="str"),
        name=dict(type="str", aliases=["name_label"]),
        console_port=dict(type="int"),
    ), required_one_of=[["uuid", "name"]])).merge(console_argument_spec())


def main():
    module = argument_spec().create_ansible_module(NovaopsModule)
    p = module.params
    with module.failing_clearly():
        check_options(p)
        if p["console_port"] is not None and not 1 <= p["console_port"] <= 65535:
            raise NovaopsError("console_port must be 1 to 65535, not %s." % p["console_port"])
        with XenAPIConnection.from_params(p) as conn:
            ref, vm = conn.find("VM", uuid=p["uuid"], name=p["name"], what="VM",
                                where=lambda r: not r["is_a_template"] and not r["is_control_domain"])
            instance, target = console_target(conn, ref, vm, p["console_port"])
        module.exit_json(**issue_link(p, "xenapi", instance, target, time.time(), module.check_mode))


if __name__ == "__main__":
    main()

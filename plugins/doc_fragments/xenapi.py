# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  url:
    description:
      - URL of the XenAPI endpoint of the pool master, for example C(https://xs1.example.com).
      - A bare host name means C(https://<host>).
      - If not set, the environment variable E(XENAPI_URL) is used.
    type: str
    aliases: [ hostname ]
  username:
    description:
      - User to log in to XenAPI as.
      - If not set, the environment variable E(XENAPI_USERNAME) is used.
    type: str
    default: root
    aliases: [ user ]
  password:
    description:
      - Password of O(username).
      - If not set, the environment variable E(XENAPI_PASSWORD) is used.
    type: str
    aliases: [ pass, pwd ]
  validate_certs:
    description:
      - Whether to verify the TLS certificate of O(url).
      - Set to V(false) only for a host you trust on a network you trust.
      - If not set, the environment variable E(XENAPI_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates to verify O(url) against, instead of the system's.
      - If not set, the environment variable E(XENAPI_CA_PATH) is used.
    type: path
requirements:
  - XenAPI (the XenServer/XCP Python SDK)
notes:
  - The connection options can be set once for all modules of the collection with
    C(module_defaults) and the action group C(group/novaops.compute.xenapi).
  - A connection option set to null counts as not set (the environment variable, then the default, applies).
'''

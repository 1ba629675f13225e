# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # the ssh login the source dom0's migration plugin uses to reach the destination (ssh_host.ssh_argument_spec;
    # each module says what its ssh_host is); with CONNECTION for the modules that copy VHD chains themselves
    DOCUMENTATION = r'''
options:
  ssh_port:
    description: Its ssh port.
    type: int
    default: 22
  ssh_user:
    description: The user the source dom0 logs in as.
    type: str
    default: root
  ssh_private_key:
    description: The private key (its contents) for that login; passed to the plugin, never logged.
    type: str
  ssh_private_key_file:
    description: A file on the managed node holding the private key (read and passed like O(ssh_private_key)).
    type: path
  ssh_known_hosts:
    description:
      - known_hosts lines for the destination host, the only ones the source dom0 then trusts for this
        transfer (C(UserKnownHostsFile), C(StrictHostKeyChecking=yes)).
      - Without it or O(ssh_known_hosts_file), the source dom0's own known_hosts files are used, still strictly;
        an unknown or changed host key fails the transfer before anything is sent. Keys are never added.
    type: str
  ssh_known_hosts_file:
    description: A file on the managed node holding those known_hosts lines.
    type: path
  insecure_ignore_host_key:
    description:
      - Do not check the destination's host key (C(StrictHostKeyChecking=no), C(UserKnownHostsFile=/dev/null)).
        The explicit opt-out, for lab setups; it cannot be combined with O(ssh_known_hosts) or O(ssh_known_hosts_file).
    type: bool
    default: false
  ssh_connect_timeout:
    description: Seconds the source dom0's ssh may take to connect to the destination.
    type: int
    default: 30
'''

    # the destination pool's XenAPI connection (vhd_migration.destination_argument_spec)
    CONNECTION = r'''
options:
  dest_url:
    description: XenAPI URL of the destination pool's master; defaults to O(url) (a move within the pool).
    type: str
  dest_username:
    description: Destination pool user; defaults to O(username).
    type: str
  dest_password:
    description: Destination pool password; defaults to O(password).
    type: str
  dest_validate_certs:
    description: Verify the destination's TLS certificate; defaults to O(validate_certs).
    type: bool
  dest_ca_path:
    description: CA bundle for the destination; defaults to O(ca_path).
    type: path
'''

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: vhd_migrate
short_description: Move a VDI's VHD chain to an SR on another XenServer pool (or the same), the Nova way
version_added: 0.1.0
description:
  - Moves the VHD chain of a VDI, or of every disk of a VM (root and ephemeral), to an SR of a
    destination pool, as OpenStack Nova's XenAPI driver did for cold migration and resize up.
  - The source host's dom0 plugin C(migration.transfer_vhd) hard-links the chain into a staging
    directory inside the SR as C(<seq>.vhd) and sends it with C(rsync -av) over ssh; the immutable
    parents go while the VM still runs, then (with O(shutdown=true)) the VM is shut down and the
    leaf follows. The destination's C(migration.move_vhds_into_sr) gives the files fresh UUIDs,
    re-links the parents with C(vhd-util modify -p), checks the chain and renames it into the SR;
    then C(SR.scan) makes them VDIs.
  - The imported leaf VDI records its source in C(other_config) (C(novaops_migrated_from),
    C(novaops_migrated_chain), C(novaops_instance)); a chain already imported is not sent again.
  - The destination SR's free space is checked before anything is sent. A failure leaves the
    source untouched and removes the staging directories on both sides; a re-run completes.
  - Requires the C(migration) plugin on both hosts (role novaops.compute.xapi_plugins), and that the
    source host can ssh to the destination host as O(ssh_user).
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.xen_destination.connection
  - novaops.compute.xen_destination
  - novaops.compute.operation_lock
attributes:
  check_mode:
    description: Reports the actions, the chains and the bytes it would move; changes nothing.
    support: full
  diff_mode:
    description: Shows the destination VDIs before and after.
    support: full
options:
  vdi_uuid:
    description: The source VDI (the leaf of its chain).
    type: str
  vm_uuid:
    description: A source VM, whose every disk (root and ephemeral, by userdevice) is moved.
    type: str
  vm_name:
    description: A source VM by name label.
    type: str
  shutdown:
    description:
      - When a disk is in use by a running VM, send its parents, then shut the VM down (clean, hard
        after O(shutdown_timeout)) and send the leaf. Without it such a disk is refused before
        anything is sent.
    type: bool
    default: false
  shutdown_timeout:
    description: Seconds to wait for a clean shutdown before a hard one.
    type: int
    default: 300
  timeout:
    description: Seconds each transfer or import may take.
    type: int
    default: 3600
  instance_uuid:
    description:
      - Names the staging directories (C(instance<uuid>)) and is recorded on the imported VDIs.
        Defaults to the VM's UUID, or the source VDI's.
    type: str
  dest_sr_uuid:
    description: Destination SR; defaults to the destination pool's default SR.
    type: str
  staging_root:
    description:
      - Directory on the destination host under which C(instance<uuid>[-<userdevice>]) is staged.
        Must be inside the destination SR or C(/images); defaults to C(<SR path>/.novaops-staging),
        on the SR's filesystem, so that the import is a rename.
    type: str
  ssh_host:
    description: The destination host as the source host's dom0 reaches it by ssh.
    type: str
    required: true
  bwlimit:
    description: rsync bandwidth limit in KiB/s (0 is none).
    type: int
    default: 0
notes:
  - The private key travels as a plugin argument; on the source host it lives only in a 0700 staging
    directory inside the SR for the length of the transfer.
'''

EXAMPLES = r'''
- name: Move a VM's disks to pool B while it runs, shutting it down for the leaf
  novaops.compute.vhd_migrate:
    vm_name: web01
    shutdown: true
    dest_url: https://xen-b.example.com
    dest_sr_uuid: 812d4226-4e17-471b-aa5f-7960b179f503
    ssh_host: xen-b.example.com
    ssh_private_key: "{{ lookup('file', 'keys/migration') }}"
    ssh_known_hosts: "{{ lookup('file', 'keys/known_hosts') }}"
  register: moved

- name: Move one VDI's chain within the pool, to another SR
  novaops.compute.vhd_migrate:
    vdi_uuid: 3f0c1a52-6d3c-4f1e-9b1e-0d3f3c9e2a11
    dest_sr_uuid: 5b1c0e2a-44f3-4a8e-8c51-3c2d9f0a7e42
    ssh_host: 127.0.0.1
    ssh_private_key_file: /root/.ssh/migration
    ssh_known_hosts_file: /root/.ssh/known_hosts
'''

RETURN = r'''
disks:
  description: One entry per source disk.
  returned: always
  type: list
  elements: dict
  contains:
    source_vdi: {description: Source leaf VDI UUID., type: str}
    source_chain: {description: 'Source chain, leaf first.', type: list, elements: str}
    userdevice: {description: The disk's userdevice on the VM (C(0) for a lone VDI)., type: str}
    vdi: {description: The destination leaf VDI UUID (null in check mode before an import)., type: str}
    chain: {description: 'The destination chain, leaf first.', type: list, elements: str}
    bytes: {description: Bytes this run sent for the disk., type: int}
    imported: {description: Whether this run imported it (false when already there)., type: bool}
  sample: [{source_vdi: 3f0c1a52-6d3c-4f1e-9b1e-0d3f3c9e2a11, userdevice: "0", imported: true}]
vdi_uuids:
  description: The destination leaf VDI UUIDs, in disk order.
  returned: always
  type: list
  elements: str
bytes_transferred:
  description: Bytes sent by rsync in this run (planned bytes in check mode).
  returned: always
  type: int
duration:
  description: Seconds the run took.
  returned: always
  type: float
operation_lock:
  description:
    - What the run did to operation locks not its own. C(cleared) and C(taken_over) list the stale marks it
      removed (O(clear_stale_lock), or a hard reboot); C(cleaned_up) what a killed xen_vdi_resize had left
      and this run removed; C(stale) a stale mark it left alone, having nothing to do.
    - In a refusal, C(busy) is the mark of the operation in the way.
  returned: when the instance carried the mark of another run
  type: dict
  sample:
    cleared:
      - operation: xen_vdi_resize
        owner: "hv1:4242"
        started_at: "2026-03-01T10:00:00Z"
        source: other_config
        stale: true
        stale_reason: its owner, process 4242 on this host, is gone
actions:
  description: The actions taken (or planned in check mode).
  returned: always
  type: list
  elements: str
'''

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.module_main import run_between_pools
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_migration import (  # noqa: F401 pylint: disable=unused-import
    OC_CHAIN, OC_FROM, Migration, argument_spec)


def main():
    run_between_pools(argument_spec(), Migration)


if __name__ == "__main__":
    main()

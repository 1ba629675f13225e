#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_migrate
short_description: Live-migrate a running XenServer VM to another host of its pool or to another pool
version_added: 0.2.0
description:
  - B(Within the pool) (no O(dest_url)) - C(VM.pool_migrate(vm, host, {live=true})); the disks stay on the
    pool's shared SR, the VM keeps running and gets a new domain on O(host).
  - B(Across pools) (O(dest_url) names another pool's master) - storage motion, as Nova's XenAPI driver did it -
    C(host.migrate_receive) on the destination host, C(VM.assert_can_migrate), then C(Async.VM.migrate_send) with
    a VDI map holding every disk of the VM and of its snapshots (to O(sr), default the destination pool's default
    SR) and a VIF map (to O(network), default the destination network named as the VIF's network is here). xapi
    copies the VHD chains while the VM runs and removes the source's disks only once the VM runs on the
    destination; whatever fails on the way, the VM keeps running on the source with its disks.
  - The task's progress is followed on C(event.from) (no polling loop) and returned.
  - Refuses before anything changes, naming the option - a VM that is not running, a destination that is the
    VM's own pool, a host, SR or network that does not exist, a host without enough free memory; then
    C(VM.assert_can_migrate) lets xapi refuse what it sees (a disk or VIF it cannot map, a host it cannot reach).
  - Idempotent - a VM already running on the destination host is left alone (C(changed=false)).
  - It holds the VM's operation lock (C(other_config:novaops_task_state), as a resize, rescue or snapshot does)
    while the VM moves, so a migration and another operation of the same VM exclude each other; a run refused for
    it changes nothing. Across pools the mark goes with the VM and is removed there.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.xen_destination.connection
  - novaops.compute.operation_lock
attributes:
  check_mode:
    description:
      - Runs every check, across pools C(host.migrate_receive) and C(VM.assert_can_migrate) too, and reports the
        move; nothing moves.
    support: full
  diff_mode:
    description: Shows the host and the VDI uuids before and after.
    support: full
options:
  vm:
    description: Name label or UUID of the VM to move (in the source pool, or already on the destination).
    type: str
    required: true
  host:
    description:
      - Name label or UUID of the destination host. Within the pool it or O(leave_host) is required; across pools
        it defaults to the destination pool's master.
    type: str
  leave_host:
    description:
      - Within the pool, let the module choose - the VM leaves this host (name label or UUID) for the best other
        host of the pool. Each other host is pre-checked (enabled, every SR of the VM's disks attached there, free
        memory for the VM's C(memory_static_max)); of those that pass, the one with the most free memory is chosen,
        as Nova's scheduler weighs hosts by default (its RAM weigher, multiplier 1.0, spreads the instances); on a
        tie the first by name. When none passes, the refusal lists each host with its reason (RV(candidates)).
      - A VM that runs on another host already is left alone (C(changed=false)), so a second run changes nothing.
    type: str
  sr:
    description: Across pools, the destination SR (name label or UUID) for every disk; default its default SR.
    type: str
  network:
    description:
      - Across pools, the destination network (name label or UUID) for every VIF; default the network with the
        name of the VIF's network in the source pool.
    type: str
  timeout:
    description: Seconds to wait for the migration task; the task is cancelled when it runs out.
    type: float
    default: 1800
notes:
  - Usable with C(async)/C(poll); returns the duration and the progress the task reported.
seealso:
  - module: novaops.compute.vhd_migrate
  - module: novaops.compute.libvirt_migrate
'''

EXAMPLES = r'''
- name: Move a running instance to the other host of its pool (host maintenance)
  novaops.compute.xen_migrate:
    vm: instance-0001
    host: xenhost-02

- name: Move it off xenhost-01 to whichever host of the pool passes the pre-checks with the most free memory
  novaops.compute.xen_migrate:
    vm: instance-0001
    leave_host: xenhost-01

- name: Move it to another pool, its disks to a named SR, its VIFs to a named network
  novaops.compute.xen_migrate:
    vm: instance-0001
    dest_url: https://pool-b.example.com
    dest_ca_path: /etc/pki/pool-b-ca.pem
    host: xenhost-b1
    sr: Shared NFS
    network: Pool-wide network associated with eth0
  register: moved

- name: Say how long it took
  ansible.builtin.debug:
    msg: "{{ moved.host_before.name_label }} -> {{ moved.host_after.name_label }} in {{ moved.duration }} s"
'''

RETURN = r'''
mode:
  description: C(pool_migrate) (within the pool) or C(migrate_send) (across pools).
  returned: always
  type: str
vm:
  description: The VM (uuid, name_label, power_state) after the move (before it, in check mode).
  returned: always
  type: dict
host_before:
  description: The host (uuid, name_label) the VM ran on.
  returned: always
  type: dict
host_after:
  description: The host (uuid, name_label) it runs on now (the one it would run on, in check mode).
  returned: always
  type: dict
vdis_before:
  description: The VM's disks before the move, each userdevice, vdi (uuid) and sr (uuid).
  returned: always
  type: list
  elements: dict
vdis_after:
  description: Its disks after the move (new uuids on the destination SR across pools; the same within a pool).
  returned: always
  type: list
  elements: dict
progress:
  description: The progress values (0 to 1) the migration task reported while the module followed it.
  returned: always
  type: list
  elements: float
actions:
  description: Planned or done actions.
  returned: always
  type: list
  elements: str
duration:
  description: Seconds the module took.
  returned: always
  type: float
candidates:
  description:
    - With O(leave_host), the hosts weighed - C(dest) (its name label), C(passed), C(memory_free) (bytes) when it
      passed, else the C(reason) it was refused.
  returned: with leave_host, also in the refusal when no host passes
  type: list
  elements: dict
  sample: [{dest: xenhost-02, passed: true, memory_free: 64424509440},
           {dest: xenhost-03, passed: false, reason: "the host is disabled (HOST_DISABLED)"}]
chosen:
  description: With O(leave_host), the host chosen and why.
  returned: when the module chose a host
  type: str
  sample: "xenhost-02: 61440 MiB of memory free, the most of 1 candidate(s) that passed the pre-checks (1 refused)"
operation_lock:
  description:
    - What the run did to operation locks not its own (C(cleared), with O(clear_stale_lock)).
    - In a refusal, C(busy) is the mark of the operation in the way.
  returned: when the VM carried the mark of another run
  type: dict
  sample: {busy: {operation: xen_snapshot, owner: "hv1:4242", started_at: "2026-12-07T05:00:00Z",
                  source: other_config, stale: false, stale_reason: null}}
host_memory_free:
  description: In a refusal for memory, the destination host's free memory in bytes.
  returned: on that failure
  type: int
'''

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.module_main import run_between_pools
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_migration import VMMigration, argument_spec


def main():
    run_between_pools(argument_spec(), VMMigration)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_vdi_resize
short_description: Grow or shrink a XenServer disk (VDI) the way Nova did, never writing the original when shrinking
version_added: 0.1.0
description:
  - B(Grow) - C(VDI.resize_online) while the disk is attached to a running VM and the SR allows it,
    else C(VDI.resize). With O(grow_filesystem), the single ext partition and its filesystem are grown
    to fill the disk too (the VM must then be halted).
  - B(Shrink) - as Nova's XenAPI resize down - the VM must be halted. The source VDI is cloned; the clone
    and a new, smaller VDI are plugged into the helper VM (the machine the module runs on); on the clone
    C(e2fsck -f -y), C(tune2fs -O ^has_journal), C(resize2fs <sectors>s), C(parted rm 1),
    C(parted mkpart primary <start>s <end>s) (the boot flag kept) and C(tune2fs -j) run; the boot sectors
    and the partition are copied sparsely (holes and zero blocks skipped) into the new VDI, whose partition
    table and filesystem are then checked (C(e2fsck -f -n)) before it is used; the clone is destroyed. The
    original VDI is never written.
  - A GPT disk is resized the same way, keeping its label - partition 1 is re-created with C(sgdisk) with
    the same type GUID, unique GUID (PARTUUID), name and attribute bits, and the backup GPT is moved to the
    end of the new disk (C(sgdisk --move-second-header)), so the smaller disk's table is valid.
  - With O(replace_in_vm) (the default) the VM's disk is swapped for the new VDI at the same device, and
    the original is kept, tagged C(other_config.novaops_resized_to=<new uuid>), so that the resize can
    be reverted; destroy it when the VM is confirmed good (Nova's confirm).
  - Refuses before changing anything, saying why - a filesystem that does not fit the smaller disk (and
    by how much), a disk that is not one ext2/3/4 partition numbered 1 in an msdos or GPT
    table, a running VM, a size of zero or not larger than the partition's start.
  - Sizes are rounded up to 2 MiB, the allocation unit of VHD-based SRs. At the target size already,
    nothing changes. A VDI tagged C(novaops_resized_to) stands for the VDI it was shrunk into.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.operation_lock
attributes:
  check_mode:
    description: Reports the planned actions and sizes; the disk is only read (plugged read-only) to check it.
    support: full
  diff_mode:
    description: Shows the VDI uuid and virtual size before and after.
    support: full
options:
  vdi_uuid:
    description: UUID of the VDI to resize. Its VM is found through its VBDs.
    type: str
  vm:
    description: Name or UUID of the VM whose disk at O(userdevice) is resized (instead of O(vdi_uuid)).
    type: str
  userdevice:
    description: Device number of the VM's disk, with O(vm). C(0) is the root disk.
    type: str
    default: "0"
  size:
    description:
      - The new virtual size, in bytes or with a unit (C(10GiB), C(512MiB), C(10G) - binary units).
    type: str
    required: true
  grow_filesystem:
    description:
      - When growing, also grow partition 1 and its ext filesystem to the end of the disk (Nova's
        auto_disk_config). Needs the VM halted and the disk to be one ext2/3/4 partition.
    type: bool
    default: false
  replace_in_vm:
    description:
      - After a shrink, swap the new VDI into the VM's VBD (same device, bootable flag, mode). The original
        VDI is kept either way.
    type: bool
    default: true
  helper_vm_uuid:
    description:
      - UUID of the VM this module runs in, into which disks are plugged.
      - If not set, the environment variable E(XENAPI_HELPER_VM_UUID) is used, else C(/sys/hypervisor/uuid).
    type: str
  device_dir:
    description:
      - Directory where plugged disks appear as C(<device_dir>/<VBD device>).
      - If not set, the environment variable E(XENAPI_DEVICE_DIR) is used.
    type: path
    default: /dev
  timeout:
    description: Seconds to wait for each XenAPI task (clone, create, resize) and for a plugged disk to appear.
    type: float
    default: 600
notes:
  - The module must run on a Xen guest in the same pool (the helper VM), as root, with C(parted) and
    C(e2fsprogs) installed, and C(gdisk) (C(sgdisk)) for GPT disks; on a disk without partition device nodes
    it maps the partition with C(losetup).
  - Usable with C(async)/C(poll); returns byte counts and the duration.
seealso:
  - module: novaops.compute.xen_vm
'''

EXAMPLES = r'''
- name: Grow the root disk of a running VM to 40 GiB (online where the SR allows it)
  novaops.compute.xen_vdi_resize:
    vm: instance-0001
    size: 40GiB

- name: Shrink a halted VM's root disk to 10 GiB; the VM gets the new disk, the original is kept
  novaops.compute.xen_vdi_resize:
    vm: instance-0001
    size: 10GiB
  register: shrunk

- name: Destroy the original once the VM is confirmed good
  novaops.compute.xen_vm_info:
    uuid: "{{ shrunk.vm.uuid }}"
  when: false

- name: Grow a halted VM's disk and its filesystem
  novaops.compute.xen_vdi_resize:
    vdi_uuid: 0b3f0c53-7e0c-4cf5-9d43-6a4c1b1f6e11
    size: 20GiB
    grow_filesystem: true
'''

RETURN = r'''
vdi:
  description: The resized VDI (after a shrink, the new one).
  returned: always
  type: dict
  contains:
    uuid: {description: UUID (C(new) in check mode before a shrink)., type: str}
    name_label: {description: Name., type: str}
    virtual_size: {description: Virtual size in bytes., type: int}
    sr: {description: UUID of its SR., type: str}
original_vdi:
  description: After a shrink, the UUID of the original VDI, kept unchanged.
  returned: when a shrink is planned or done
  type: str
vm:
  description: The VM the disk belongs to (uuid, name_label, power_state), or null.
  returned: always
  type: dict
old_size:
  description: Virtual size before, in bytes.
  returned: always
  type: int
new_size:
  description: Virtual size after (expected, in check mode), in bytes.
  returned: always
  type: int
bytes_copied:
  description: Bytes written into the new VDI by the sparse copy.
  returned: always
  type: int
bytes_skipped:
  description: Bytes of the copied range skipped as holes or zeros.
  returned: always
  type: int
partition:
  description:
    - Partition 1 before (start, end in sectors, fs, flags), the table's label (C(msdos) or C(gpt)) and the
      filesystem's minimum size in bytes, when the disk was inspected.
  returned: when the disk was inspected
  type: dict
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
  description: Planned or done actions, in order.
  returned: always
  type: list
  elements: str
duration:
  description: Seconds the module took.
  returned: always
  type: float
'''

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.module_main import run_on_pool
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vdi_resizer import VDIResize, argument_spec


def main():
    run_on_pool(argument_spec(), VDIResize)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_vm
short_description: Bring a XenServer VM to a described state
version_added: 0.1.0
description:
  - Declarative management of one XenServer / XCP-ng VM through XenAPI, as OpenStack Nova's
    XenAPI driver did it at boot, rescue, resize and hard reboot.
  - Creates the VM from a template (by C(VM.clone) or C(VM.copy), then C(VM.provision)), sets its
    VCPUs, memory, disks, VIFs, C(other_config), C(xenstore_data), name and bootlock, and brings it
    to a power state; or destroys it with the disks it owns.
  - Reads each XenAPI class with one call (whole records), waits on C(event.from), never polls.
    A run that changes nothing makes no mutating call.
  - Records the state it was asked for in the VM's C(other_config) key C(novaops_desired_state),
    and the owner of every disk it creates in the VDI's C(other_config) key C(novaops_owner_vm).
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.operation_lock
attributes:
  check_mode:
    description: Reports the actions it would take and the facts it expects, changes nothing.
    support: full
  diff_mode:
    description: Shows the VM's settings before and after.
    support: full
options:
  uuid:
    description:
      - UUID of the VM. Identifies the VM; with O(name) as well, O(name) is the name it should have - except
        for O(state=rebooted), which reboots the VM of this UUID as it is, O(name) only naming it in messages.
        An empty string is O(uuid) not given.
      - A VM given by UUID that does not exist cannot be created (XenServer chooses UUIDs).
    type: str
  name:
    description:
      - Name (C(name_label)) of the VM. Identifies the VM when O(uuid) is not given, and names a new one.
      - Look-up by name ignores templates, snapshots and the control domain. Two VMs of one name
        are an error that lists their UUIDs.
    type: str
    aliases: [ name_label ]
  new_name:
    description:
      - Rename the VM to this name (resize renames an instance to C(<name>-orig)).
      - When no VM is named O(name) but one is named O(new_name), that VM is taken as already renamed.
    type: str
  description:
    description: The VM's C(name_description).
    type: str
  state:
    description:
      - V(present) the VM exists (created halted if missing), its power state is left alone.
      - V(running), V(halted), V(suspended), V(paused) the VM exists in that power state.
      - V(rebooted) the VM is rebooted (see O(reboot)); a halted VM is started. Always a change. Refused while a
        resize of the VM waits for confirm or revert (see O(resize_orig_suffix)).
      - V(absent) the VM is destroyed with the disks it owns. Disks attached from elsewhere
        (O(disks[].vdi)) are detached and left intact.
      - Halting a suspended VM discards its memory image and needs O(force).
        A halted VM cannot be suspended.
    type: str
    choices: [ present, running, halted, suspended, paused, absent, rebooted ]
    default: present
  reboot:
    description:
      - How V(rebooted) reboots a running VM. V(clean) asks the guest and falls back to a hard
        reboot after O(timeout); V(hard) resets it at once.
    type: str
    choices: [ clean, hard ]
    default: clean
  template:
    description:
      - Name or UUID of the template to create the VM from, when it does not exist.
      - Default with O(image_vdi) C(Other install media), the template Nova's XenAPI driver booted images on
        (the image gives the root disk, the template the VM's settings).
    type: str
  create_mode:
    description:
      - V(clone) C(VM.clone) of the template (fast, copy-on-write disks), then C(VM.provision).
      - V(copy) C(VM.copy) of the template to O(sr) (full copies of its disks), then C(VM.provision).
    type: str
    choices: [ clone, copy ]
    default: clone
  template_disks:
    description:
      - Whether a new VM gets the disks its template's provisioning describes (C(other_config:disks)).
      - V(false) creates the VM with only the O(disks) given - the destination of a resize or migration,
        whose disks exist already (O(disks[].vdi) with O(disks[].adopt)).
      - Default V(false) with O(image_vdi) (the root disk is the image's), else V(true).
    type: bool
  sr:
    description:
      - Name or UUID of the storage repository for C(VM.copy), for the disks the template's
        provisioning creates, and for new disks without their own O(disks[].sr).
      - Defaults to the pool's default SR.
    type: str
  vcpus:
    description:
      - Number of virtual CPUs (C(VCPUs_max) and C(VCPUs_at_startup)). Changing it needs the VM
        halted, see O(force).
    type: int
  memory_mb:
    description:
      - Memory in MiB (static and dynamic maximum, dynamic minimum). Changing it needs the VM
        halted, see O(force).
    type: int
  flavor:
    description:
      - A Nova flavor, laid out as Nova's XenAPI driver did - its VCPUs and memory as O(vcpus) and O(memory_mb)
        (exclusive with them); the root disk at userdevice 0 (bootable, O(flavor.root_gb), or a clone of
        O(image_vdi) grown to it), swap at userdevice 1 (C(<name> swap)), ephemeral at userdevice 4
        (C(<name> ephemeral)). A size of 0 means no such disk.
      - These disks follow the same rules as O(disks) (created when missing, grown, never shrunk); O(disks)
        may add others but not at the same userdevice.
    type: dict
    suboptions:
      vcpus:
        description: Virtual CPUs.
        type: int
        required: true
      memory_mb:
        description: Memory in MiB.
        type: int
        required: true
      root_gb:
        description: Root disk in GiB.
        type: int
        default: 0
      swap_mb:
        description: Swap disk in MiB.
        type: int
        default: 0
      ephemeral_gb:
        description: Ephemeral disk in GiB.
        type: int
        default: 0
  image_vdi:
    description:
      - With O(flavor), the root disk is a C(VDI.clone) of this VDI (UUID or name; the cached image of
        M(novaops.compute.xen_image)), grown to O(flavor.root_gb) when that is larger; refused when the image is
        larger than O(flavor.root_gb), as Nova refused a flavor's disk smaller than its image.
      - In check mode an empty string predicts the clone of an image not cached yet, as for O(disks[].clone_of).
    type: str
  disks:
    description:
      - Disks the VM must have, by O(disks[].userdevice). Disks not listed are left alone.
      - A missing disk is created (O(disks[].size_gb) or O(disks[].size_mb)), cloned (O(disks[].clone_of)) or
        attached (O(disks[].vdi)).
        An existing disk grows to a larger size (never shrinks), online when the VM runs.
    type: list
    elements: dict
    suboptions:
      userdevice:
        description: The disk's position (C(0) is the first disk). Defaults to the index in the list.
        type: str
      size_gb:
        description: Size of a new disk, or the size an existing one grows to, in GiB.
        type: float
      size_mb:
        description: Size in MiB, instead of O(disks[].size_gb).
        type: int
      sr:
        description: Name or UUID of the SR for a new disk; defaults to O(sr).
        type: str
      vdi:
        description:
          - UUID or name of an existing VDI to attach at O(disks[].userdevice). The module never
            destroys it, not even with O(state=absent).
        type: str
      clone_of:
        description:
          - UUID or name of a VDI a missing disk is made from by C(VDI.clone) (copy-on-write), then grown to
            O(disks[].size_gb) when that is larger - an instance's root disk from the cached image VDI of
            M(novaops.compute.xen_image), as Nova's C(use_cow_images). The clone is the VM's own (destroyed with it).
          - Only used to create the disk; an existing disk at that userdevice is left as it is.
          - In check mode an empty string predicts the clone of an image not cached yet (what the C(boot) role
            passes before M(novaops.compute.xen_image) has downloaded it); outside check mode it is an error.
        type: str
      adopt:
        description:
          - With O(disks[].vdi), the VM takes the VDI over - it is marked as the VM's own (C(other_config)
            C(novaops_owner_vm)) and destroyed with the VM by O(state=absent). For a disk made for this VM
            elsewhere, like the copy a resize imports. Without it an attached VDI is never destroyed.
        type: bool
        default: false
      name:
        description: Name of a new VDI; defaults to C(<vm name> <userdevice>).
        type: str
      bootable:
        description: Whether the VBD is bootable.
        type: bool
      mode:
        description: Read-write or read-only attachment. Changing it needs the VM halted.
        type: str
        choices: [ RW, RO ]
  vifs:
    description:
      - Network interfaces the VM must have, by O(vifs[].device). VIFs not listed are left alone;
        a VIF on another network or with another MAC is replaced (hot-plugged when the VM runs).
    type: list
    elements: dict
    suboptions:
      network:
        description: Name or UUID of the network.
        type: str
        required: true
      mac:
        description: MAC address; XenServer generates one when not given.
        type: str
      device:
        description: The VIF's device number. Defaults to the index in the list.
        type: str
  other_config:
    description: Keys to set in the VM's C(other_config) (other keys are kept).
    type: dict
  xenstore_data:
    description: Keys to set in the VM's C(xenstore_data) (other keys are kept).
    type: dict
  bootlock:
    description:
      - V(true) blocks starting the VM (C(blocked_operations) C(start)), as rescue does to the
        original VM; V(false) removes that lock. Unset leaves it as it is.
      - A bootlocked VM is never started; a state that needs a start fails, naming the lock.
    type: bool
  force:
    description:
      - Allow powering the VM off for changes that need it halted (VCPUs, memory, disk mode), and
        halting a suspended VM. A running VM is shut down cleanly, then hard after O(timeout);
        afterwards it is brought back to O(state) (for V(present), to its old power state).
      - Also allows O(state=halted) to fall back to a hard shutdown when the clean one does not
        finish within O(timeout).
    type: bool
    default: false
  timeout:
    description: Seconds each XenAPI operation (copy, provision, start, shutdown, ...) may take.
    type: int
    default: 300
  resize_orig_suffix:
    description:
      - With O(state=rebooted) - the suffix a resize (M(novaops.compute.xen_resize)) gives the original's name until
        confirm or revert. A reboot is refused while the VM, or (when no VM is named O(name)) a VM named
        C(<name><suffix>), carries the marks of a resize that waits for confirm or revert, as Nova refused it in
        C(RESIZED).
    type: str
    default: -orig
notes:
  - O(state=absent) destroys the disks the VM owns - those it created or got from its template, marked in
    the VDI's C(other_config) - and, for VMs made by other tools, the unmarked disks that no other VM uses and
    that were not attached with O(disks[].vdi). Snapshots of the VM are left alone.
seealso:
  - module: novaops.compute.xen_vm_info
'''

EXAMPLES = r'''
- name: Boot an instance from a template
  novaops.compute.xen_vm:
    name: instance-0001
    template: Debian Bookworm 12
    vcpus: 2
    memory_mb: 2048
    disks:
      - userdevice: "0"
        size_gb: 20
        bootable: true
      - userdevice: "1"
        size_gb: 10
        name: instance-0001 ephemeral
    vifs:
      - network: Pool-wide network associated with eth0
        mac: "02:16:3e:00:00:01"
    other_config:
      nova_uuid: 6b8b4567-327b-4c23-9e10-0123456789ab
    state: running

- name: Rescue - hard-shut the original and bootlock it
  novaops.compute.xen_vm:
    name: instance-0001
    state: halted
    force: true
    bootlock: true

- name: Rescue VM with the original root as its second, non-bootable disk
  novaops.compute.xen_vm:
    name: instance-0001-rescue
    template: rescue-image
    disks:
      - userdevice: "1"
        vdi: "{{ original.vm.disks[0].vdi_uuid }}"
        bootable: false
    state: running

- name: Unrescue - destroy the rescue VM (the original's disk is only detached)
  novaops.compute.xen_vm:
    name: instance-0001-rescue
    state: absent

- name: Resize - keep the original under another name
  novaops.compute.xen_vm:
    name: instance-0001
    new_name: instance-0001-orig

- name: More memory, powering the VM off and on again if needed
  novaops.compute.xen_vm:
    uuid: 2b1e9a4c-0d6f-4e55-9c1b-6a2f0e3d4c5b
    memory_mb: 4096
    force: true
    state: running

- name: Hard reboot (Nova's repair path)
  novaops.compute.xen_vm:
    name: instance-0001
    state: rebooted
    reboot: hard
'''

RETURN = r'''
changed:
  description: Whether the VM was (or in check mode would be) changed.
  returned: always
  type: bool
actions:
  description: The actions taken (or planned in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [create, set_vcpus, set_memory, create_disk_1, start]
vm:
  description:
    - The VM's facts after the run (in check mode, those expected); null when absent.
    - Same shape as the entries of novaops.compute.xen_vm_info's C(vms), without record, chains,
      consoles and snapshots.
  returned: always
  type: dict
  contains:
    uuid:
      description: UUID of the VM (null in check mode before creation).
      type: str
    name:
      description: C(name_label).
      type: str
    power_state:
      description: running, halted, suspended or paused.
      type: str
    vcpus:
      description: C(VCPUs_at_startup).
      type: int
    memory_mb:
      description: Static maximum memory in MiB.
      type: int
    bootlocked:
      description: Whether C(blocked_operations) holds C(start).
      type: bool
    blocked_operations:
      description: The VM's C(blocked_operations).
      type: dict
    other_config:
      description: The VM's C(other_config).
      type: dict
    xenstore_data:
      description: The VM's C(xenstore_data).
      type: dict
    disks:
      description: VBDs with their VDI (uuid, name, size in bytes and GiB, SR, owned by this VM or not).
      type: list
      elements: dict
    vdi_by_userdevice:
      description: The VDI uuid in each C(userdevice) (an empty drive left out); C(0) is the root disk.
      type: dict
      sample: {"0": 4f0d2c9e-2f5b-4ad1-8d0e-0c1f7a9b6e21}
    vifs:
      description: VIFs (device, MAC, network uuid and name, bridge; C(port), dom0's C(vif<domid>.<device>) while the VM runs, new at every start).
      type: list
      elements: dict
  sample:
    uuid: 0f5c3c62-1d8a-4bd1-9b37-1a3e3bd5a6a1
    name: instance-0001
    power_state: running
    vcpus: 2
    memory_mb: 2048
    bootlocked: false
    disks:
      - userdevice: "0"
        vdi_uuid: 4f0d2c9e-2f5b-4ad1-8d0e-0c1f7a9b6e21
        size: 21474836480
        size_gb: 20.0
        sr_name: Local storage
        bootable: true
        mode: RW
        owned: true
    vifs:
      - device: "0"
        mac: "02:16:3e:00:00:01"
        network_name: Pool-wide network associated with eth0
diff:
  description: The VM's settings before and after (with diff mode).
  returned: when diff mode is on
  type: dict
duration:
  description: Seconds the module took.
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
summary:
  description:
    - With O(state=rebooted) and O(reboot=hard) - one line of what was found broken before the restart (a halted,
      paused or suspended VM) and what was done, or that nothing was broken.
  returned: with O(state=rebooted) and O(reboot=hard), for a VM that exists
  type: str
  sample: "VM web1: nothing was broken; restarted as asked (hard_reboot)."
xenapi_error:
  description: The XenAPI failure behind an error.
  returned: on a XenAPI failure
  type: dict
  contains:
    code:
      description: The error code, for example C(VM_BAD_POWER_STATE).
      type: str
    params:
      description: The error's parameters.
      type: list
      elements: str
'''

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.module_main import run_on_pool
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_manager import VM, argument_spec


def main():
    run_on_pool(argument_spec(), VM)


if __name__ == "__main__":
    main()

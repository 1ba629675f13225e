#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_rescue
short_description: Rescue or unrescue a XenServer instance, as Nova's XenAPI driver did
version_added: 0.1.0
description:
  - V(rescued) - the instance is hard-shut (a clean shutdown first, a hard one after O(timeout)) and bootlocked
    (C(blocked_operations:start)); a VM C(<name><rescue_suffix>) is made from the rescue O(template), with the
    instance's VCPUs, memory and VIFs (the same networks and MACs) and the instance's root disk attached second
    (userdevice 1, not bootable), marked C(other_config:novaops_rescue_of) with the instance's uuid, and started.
  - V(unrescued) - the exact undo - the rescue VM is destroyed with the disks it made (never the instance's root,
    which it only held), the bootlock removed and the instance started. The instance carries
    C(other_config:novaops_unrescue_pending) from before the rescue VM goes until it runs again, so that a re-run
    after a failed start finishes the unrescue.
  - Refused before anything changes, saying why - an instance whose resize waits for confirm or revert (Nova's
    C(RESIZED); its original renamed C(<name><resize_orig_suffix>) is looked at too), no VM or several of the name,
    a VM of the rescue name that is not this instance's rescue VM, an unrescue of an instance not in rescue.
  - Both states are idempotent and resume where a run stopped - a rescue VM marked for the instance that holds
    nothing yet (a rescue stopped before it attached the root) is finished by V(rescued) or destroyed by
    V(unrescued).
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.operation_lock
  - novaops.compute.name_from
attributes:
  check_mode:
    description: Reports the steps it would take and the rescue it expects; changes nothing.
    support: full
  diff_mode:
    description: Shows the instance and its rescue VM before and after.
    support: full
options:
  name:
    description: The instance's name (its VM's C(name_label)).
    type: str
    required: true
  state:
    description:
      - V(rescued) - the rescue VM runs with the instance's root disk second; the instance is halted and bootlocked.
      - V(unrescued) - there is no rescue VM; the instance runs from its own root disk, unlocked.
    type: str
    choices: [rescued, unrescued]
    default: rescued
  template:
    description: Name or UUID of the template the rescue VM is made from (a rescue system). Needed to make it.
    type: str
  rescue_suffix:
    description: The rescue VM is named C(<name><suffix>) (Nova's convention).
    type: str
    default: -rescue
  resize_orig_suffix:
    description:
      - The suffix a resize (M(novaops.compute.xen_resize)) gives the original's name until confirm or revert; with
        no VM named O(name), a VM of that name carrying the marks of a resize refuses the rescue.
    type: str
    default: -orig
  timeout:
    description: Seconds each shutdown, start and XenAPI task may take.
    type: int
    default: 300
notes:
  - Every step takes the instance's (or the rescue VM's) operation lock as M(novaops.compute.xen_vm) does; O(clear_stale_lock)
    and O(stale_lock_age) apply to each.
seealso:
  - module: novaops.compute.xen_vm
  - module: novaops.compute.libvirt_domain
'''

EXAMPLES = r'''
- name: Boot web01's rescue system, its root disk second
  novaops.compute.xen_rescue:
    name: web01
    template: Debian Bookworm 12

- name: Back to its own system
  novaops.compute.xen_rescue:
    name: web01
    state: unrescued
'''

RETURN = r'''
rescue:
  description: The instance's rescue after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    name:
      description: The instance's name.
      type: str
    rescued:
      description: Whether a rescue VM exists.
      type: bool
    unrescue_pending:
      description: Whether an unrescue destroyed the rescue VM and has not started the instance yet.
      type: bool
    instance:
      description: The instance (C(uuid), C(power_state), C(bootlocked), C(root_vdi)), or null when not one VM has the name.
      type: dict
      sample: {uuid: 0f4b8ae3-8bd7-4d56-9b0a-3b5b0a1d2c3e, power_state: halted, bootlocked: true,
               root_vdi: 3f0c1a52-6d3c-4f1e-9b1e-0d3f3c9e2a11}
    rescue_vm:
      description:
        - The rescue VM (C(uuid) - null in check mode before it is made, C(name), C(power_state), C(held_vdi) - the disk
          at its userdevice 1), or null.
      type: dict
operation_lock:
  description:
    - What the run's steps did to operation locks not their own - C(cleared) and C(taken_over) list the stale marks
      they removed (O(clear_stale_lock)); C(cleaned_up) what a killed xen_vdi_resize had left and a step removed;
      C(stale) a stale mark a step left alone, having nothing to do.
    - In a refusal, C(busy) is the mark of the operation in the way.
  returned: when the instance carried the mark of another run
  type: dict
  sample:
    busy:
      operation: xen_vdi_resize
      owner: "hv1:4242"
      started_at: "2026-03-01T10:00:00Z"
      source: other_config
      stale: false
      stale_reason: null
actions:
  description:
    - The steps taken (or, in check mode, that would be taken), in order - C(shut_down_and_bootlock),
      C(boot_rescue_vm); C(mark_unrescue), C(destroy_rescue_vm), C(start_instance), C(finish_unrescue).
  returned: always
  type: list
  elements: str
  sample: [shut_down_and_bootlock, boot_rescue_vm]
duration:
  description: Seconds the run took.
  returned: always
  type: float
'''

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.module_main import run_on_pool
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import RESCUE_OF, UNRESCUE_PENDING
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.resize_record import refuse_during, root_disk
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.steps import XenSteps, refuse_empty_suffixes
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_facts import Records, vms_named
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import xenapi_argument_spec


def argument_spec():
    return xenapi_argument_spec().merge(lock_argument_spec()).merge(ArgumentSpec(dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="rescued", choices=["rescued", "unrescued"]),
        template=dict(type="str"),
        name_from=dict(type="str"),
        rescue_suffix=dict(type="str", default="-rescue"),
        resize_orig_suffix=dict(type="str", default="-orig"),
        timeout=dict(type="int", default=300),
    ), input_rules={"timeout": rules.SECONDS}))


def _held(vm):
    """The VDI a rescue VM holds at userdevice 1 (the instance's root disk), or None."""
    return next((d["vdi_uuid"] for d in vm["disks"] if d["userdevice"] == "1" and d.get("vdi_uuid")), None)


class Rescue(Manager):
    """One instance's rescue or unrescue, after Nova's XenAPI driver."""

    def __init__(self, module, conn):
        super().__init__(module)
        self.conn = conn
        self.steps = XenSteps(module, conn)
        self.name = self.params["name"]
        self.rescue_name = self.name + self.params["rescue_suffix"]
        self.instances = self.rescue_vms = self.renamed = []

    # -- reading -------------------------------------------------------------------------------
    def read(self):
        records = Records(self.conn)
        self.instances = vms_named(records, self.name)
        self.rescue_vms = vms_named(records, self.rescue_name)
        # a resize renames the original: it is found only to refuse (see plan_rescued)
        self.renamed = [] if self.instances else vms_named(records, self.name + self.params["resize_orig_suffix"])
        instance = self.instances[0] if len(self.instances) == 1 else None
        rescue_vm = self.rescue_vms[0] if len(self.rescue_vms) == 1 else None
        return dict(
            name=self.name, rescued=bool(self.rescue_vms),
            unrescue_pending=bool(instance and instance["other_config"].get(UNRESCUE_PENDING)),
            instance=dict(uuid=instance["uuid"], power_state=instance["power_state"],
                          bootlocked=instance["bootlocked"],
                          root_vdi=(root_disk(instance) or {}).get("vdi_uuid")) if instance else None,
            rescue_vm=dict(uuid=rescue_vm["uuid"], name=rescue_vm["name"], power_state=rescue_vm["power_state"],
                           held_vdi=_held(rescue_vm)) if rescue_vm else None)

    def result(self, facts):
        return self.steps.with_lock_report(dict(rescue=facts))

    def diff_view(self, facts):
        return facts

    # -- planning ------------------------------------------------------------------------------
    def plan(self, before, plan):
        refuse_empty_suffixes(self.params, ("rescue_suffix", "resize_orig_suffix"))
        if self.params["state"] == "unrescued":
            return self.plan_unrescued(before, plan)
        return self.plan_rescued(before, plan)

    def name_hint(self):
        """For a name that matches no VM: where it came from."""
        if self.instances:
            return ""
        return " Check the option name (%s)." % self.params["name_from"] if self.params["name_from"] else \
            " Check the option name."

    def check_rescue_vm(self, instance):
        """A VM of the rescue name, if any, is this instance's rescue VM: it holds the instance's root disk at
        userdevice 1 - or it is marked as its rescue VM and holds nothing there yet (a rescue that stopped
        before it attached the root left it; the next run finishes it, or unrescue destroys it)."""
        root = (root_disk(instance) or {}).get("vdi_uuid")
        held = [_held(vm) for vm in self.rescue_vms if _held(vm)]
        marked = [vm["other_config"].get(RESCUE_OF, "") for vm in self.rescue_vms]
        if self.rescue_vms and held != [root] and not (held == [] and marked == [instance["uuid"]]):
            raise NovaopsError("A VM named %s exists and does not hold the root disk %s of %s at userdevice 1: it is "
                               "not this instance's rescue VM. Nothing was changed." % (self.rescue_name, root, self.name))

    def plan_rescued(self, before, plan):
        """Nova's XenAPI rescue: the instance hard-shut and bootlocked, a VM <name>-rescue from the rescue template
        with the instance's root disk attached second (userdevice 1, not bootable)."""
        refuse_during(self.instances + self.renamed, self.name, "rescue")
        instance = self.instances[0] if len(self.instances) == 1 else None
        root = root_disk(instance) if instance else None
        if root is None:
            raise NovaopsError("%d VMs named %s with %d root disks (userdevice 0) found; rescue needs one.%s Nothing "
                               "was changed." % (len(self.instances), self.name,
                                                 sum(1 for vm in self.instances if root_disk(vm)), self.name_hint()))
        self.check_rescue_vm(instance)
        halt = dict(uuid=instance["uuid"], state="halted", force=True, bootlock=True)
        if self.steps.vm_would_change(self.conn, halt):
            plan.add("shut_down_and_bootlock", self.steps.vm, self.conn, halt)
        boot = dict(name=self.rescue_name, template=self.params["template"], vcpus=instance["vcpus"],
                    memory_mb=instance["memory_mb"], disks=[dict(userdevice="1", vdi=root["vdi_uuid"], bootable=False)],
                    # the same networks and MACs as the instance's VIFs (the instance is halted)
                    vifs=[dict(network=v["network_uuid"], mac=v["mac"], device=v["device"]) for v in instance["vifs"]],
                    other_config={RESCUE_OF: instance["uuid"]}, state="running")
        if self.steps.vm_would_change(self.conn, boot):
            plan.add("boot_rescue_vm", self.steps.vm, self.conn, boot)
        return dict(before, rescued=True,
                    instance=dict(before["instance"], power_state="halted", bootlocked=True),
                    rescue_vm=dict(uuid=(before["rescue_vm"] or {}).get("uuid"), name=self.rescue_name,
                                   power_state="running", held_vdi=root["vdi_uuid"]))

    def plan_unrescued(self, before, plan):
        """Nova's XenAPI unrescue, the exact undo: the rescue VM destroyed with the disks it made (never the
        instance's root, which it only held), the bootlock removed, the instance started.  The instance carries
        UNRESCUE_PENDING from before the rescue VM goes until it runs again: a re-run after a failed start
        resumes there (the rescue VM is gone by then)."""
        if len(self.instances) != 1:
            raise NovaopsError("%d VMs are named %s; unrescue needs one.%s Nothing was changed."
                               % (len(self.instances), self.name, self.name_hint()))
        instance = self.instances[0]
        if not self.rescue_vms and not before["unrescue_pending"]:
            raise NovaopsError("VM %s is not in rescue (no VM is named %s); there is nothing to unrescue. Nothing was "
                               "changed." % (self.name, self.rescue_name))
        self.check_rescue_vm(instance)
        rescue_vm = self.rescue_vms[0] if self.rescue_vms else None
        if rescue_vm is not None:
            plan.add("mark_unrescue", self.steps.vm, self.conn,
                     dict(uuid=instance["uuid"], other_config={UNRESCUE_PENDING: rescue_vm["uuid"]}))
            plan.add("destroy_rescue_vm", self.steps.vm, self.conn, dict(uuid=rescue_vm["uuid"], state="absent"))
        start = dict(uuid=instance["uuid"], bootlock=False, state="running")
        if rescue_vm is not None or self.steps.vm_would_change(self.conn, start):
            plan.add("start_instance", self.steps.vm, self.conn, start)
        plan.add("finish_unrescue", self.steps.vm, self.conn,
                 dict(uuid=instance["uuid"], other_config={UNRESCUE_PENDING: ""}))
        return dict(before, rescued=False, unrescue_pending=False, rescue_vm=None,
                    instance=dict(before["instance"], power_state="running", bootlocked=False))


def main():
    run_on_pool(argument_spec(), Rescue)


if __name__ == "__main__":
    main()

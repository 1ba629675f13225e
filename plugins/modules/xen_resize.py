#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: xen_resize
short_description: Resize a XenServer instance up or down, to another pool or the same, then confirm or revert it
version_added: 0.1.0
description:
  - Nova's XenAPI resize, as three states of an instance (Nova's migrate_disk_and_power_off, finish_migration,
    confirm and revert), each resumed where a run stopped.
  - V(resized) - the original is renamed C(<name><orig_suffix>) and keeps, until confirm, its disks untouched and
    its power state noted (C(other_config:novaops_resize_prior_state)). Up - the VHD chains of its disks go to the
    destination pool's SR with the dom0 C(migration) plugin as M(novaops.compute.vhd_migrate) sends them (the
    parents while it runs, the leaf after its shutdown). Down - it is shut down first, the root disk shrunk into a
    new, smaller VDI as M(novaops.compute.xen_vdi_resize) shrinks (the original is only read), and a carrier VM
    C(<name><carrier_suffix>) takes that copy and the other disks to the destination. There a new VM C(<name>)
    is made from the copies (it owns them; marked C(novaops_resize_of) with the original's uuid) from O(template),
    with the original's VIFs and the new flavor, its root disk grown (M(novaops.compute.xen_vdi_resize)), and
    started when the original ran.
  - Refused before anything changes, saying why - no VM or several of the name, a template, a flavor or a VIF's
    network the new VM could not be made with, unreadable ssh key files, and a resize down whose root filesystem
    does not fit the smaller disk, also while the original runs - its minimum size is read from a snapshot of the
    root disk, plugged read-only into the helper VM and destroyed again.
  - A failure in a run that started the resize removes what it made (found by its marks only) and gives the
    original its name and power state back. A resize done before the run (it waits for confirm or revert) is only
    finished (a failed grow or start) and never undone on its own; a resize to another flavor is then refused.
  - V(confirmed) - the resized instance is kept, its mark cleared; the original is destroyed with the disks it owns.
  - V(reverted) - the resized instance is destroyed with the copies it owns; the original gets its name and its
    power state back - its disks never changed. Its note of the power state goes last, so a failed start is resumed.
  - Nothing to confirm or revert is no change, and RV(msg) says so; a name that no VM on either pool has is an
    error. Every state is idempotent; a second run changes nothing.
  - While a resize waits for confirm or revert (Nova's C(RESIZED)), a hard reboot (M(novaops.compute.xen_vm)) and
    a rescue (M(novaops.compute.xen_rescue)) of the instance are refused, and the fleet inventory counts it busy.
author: novaops.compute maintainers (@novaops)
extends_documentation_fragment:
  - novaops.compute.xenapi
  - novaops.compute.xen_destination.connection
  - novaops.compute.xen_destination
  - novaops.compute.operation_lock
  - novaops.compute.name_from
attributes:
  check_mode:
    description:
      - Reports the steps it would take and the resize it expects; changes nothing. The steps of a new resize
        are planned whole (what they make is not known before they run). For a resize down the root filesystem is
        checked as for a real run, on a snapshot that is destroyed again.
    support: full
  diff_mode:
    description: Shows the resize (status, the original, the resized instance, a carrier) before and after.
    support: full
options:
  name:
    description:
      - The instance's name, as the original (C(<name>) or, once renamed, C(<name><orig_suffix>)) on the source pool
        and the resized instance on the destination pool are named.
    type: str
    required: true
  state:
    description:
      - V(resized) - the instance runs (or is halted, as before) on the destination with O(flavor); the original
        waits, renamed and halted.
      - V(confirmed) - the resize is kept; the original is gone.
      - V(reverted) - the resize is undone; the original is back under its name, in its power state from before.
    type: str
    choices: [resized, confirmed, reverted]
    default: resized
  flavor:
    description:
      - The new flavor (for V(resized)); an unset or zero value keeps the original's.
    type: dict
    suboptions:
      vcpus:
        description: Virtual CPUs.
        type: int
      memory_mb:
        description: Memory in MiB.
        type: int
      root_gb:
        description: The root disk in GiB; smaller than the disk is a resize down.
        type: int
      root_mb:
        description: The root disk in MiB instead of O(flavor.root_gb) (a finer grain for shrinking).
        type: int
      ephemeral_gb:
        description: Not used (accepted so that an instance's flavor can be given as it is).
        type: int
      swap_mb:
        description: Not used (accepted so that an instance's flavor can be given as it is).
        type: int
  template:
    description:
      - Name or UUID of the template the new VM (and a carrier VM) is made from, without its disks. Required for
        V(resized).
    type: str
  orig_suffix:
    description: The original is renamed C(<name><suffix>) until confirm or revert.
    type: str
    default: -orig
  carrier_suffix:
    description: The VM that carries a shrunk root disk to the destination is named C(<name><suffix>).
    type: str
    default: -resize
  dest_sr_uuid:
    description: The destination SR; defaults to the destination pool's default SR.
    type: str
  ssh_host:
    description:
      - The destination host as the source host's dom0 reaches it by ssh (the migration plugin's rsync). Required
        for V(resized).
    type: str
  helper_vm_uuid:
    description:
      - The helper VM on the source pool a shrink runs in (the machine the module runs on), into which disks are
        plugged. If not set, E(XENAPI_HELPER_VM_UUID), else C(/sys/hypervisor/uuid).
    type: str
  device_dir:
    description:
      - Where disks plugged into that helper VM appear. If not set, E(XENAPI_DEVICE_DIR).
    type: path
    default: /dev
  grow_filesystem:
    description: Also grow the root disk's partition and ext filesystem after a resize up (from the destination's helper VM).
    type: bool
    default: false
  dest_helper_vm_uuid:
    description: The destination pool's helper VM, for O(grow_filesystem); if not set, as for O(helper_vm_uuid).
    type: str
  dest_device_dir:
    description: Where disks plugged into it appear; if not set, as for O(device_dir).
    type: path
  shutdown_timeout:
    description: Seconds the original gets to shut down cleanly before the leaf of its disks is sent (then it is powered off).
    type: int
    default: 60
  timeout:
    description: Seconds each XenAPI task, shutdown, start, shrink and transfer may take.
    type: int
    default: 600
requirements:
  - The dom0 C(migration) plugin on both pools' hosts (role novaops.compute.xapi_plugins); for a resize down, the
    module runs in a helper VM of the source pool with C(parted) and C(e2fsprogs) (see M(novaops.compute.xen_vdi_resize)).
notes:
  - Data the instance wrote after the resize is lost on revert, as with Nova.
  - Every step takes the instance's operation lock as the module it stands for does
    (M(novaops.compute.xen_vm), M(novaops.compute.xen_vdi_resize), M(novaops.compute.vhd_migrate)); O(clear_stale_lock)
    and O(stale_lock_age) apply to each.
  - Usable with C(async)/C(poll); returns the bytes sent and the duration.
seealso:
  - module: novaops.compute.vhd_migrate
  - module: novaops.compute.xen_vdi_resize
  - module: novaops.compute.xen_vm
  - module: novaops.compute.libvirt_resize
'''

EXAMPLES = r'''
- name: Resize web01 up to pool B (it runs there with 4 VCPUs, 4 GiB and a 40 GiB root disk)
  novaops.compute.xen_resize:
    name: web01
    flavor: {vcpus: 4, memory_mb: 4096, root_gb: 40}
    template: Debian Bookworm 12
    dest_url: https://xen-b.example.com
    dest_sr_uuid: 812d4226-4e17-471b-aa5f-7960b179f503
    ssh_host: xen-b.example.com
    ssh_private_key_file: /root/.ssh/migration
    ssh_known_hosts_file: /etc/novaops/known_hosts

- name: Keep it (the original web01-orig goes)
  novaops.compute.xen_resize:
    name: web01
    state: confirmed
    dest_url: https://xen-b.example.com

- name: Or undo it (web01 runs again on pool A, on its own disks)
  novaops.compute.xen_resize:
    name: web01
    state: reverted
    dest_url: https://xen-b.example.com

- name: Shrink the root disk to 8 GiB within the pool (the module runs in the pool's helper VM)
  novaops.compute.xen_resize:
    name: web02
    flavor: {root_mb: 8192}
    template: Debian Bookworm 12
    ssh_host: xen-a2.example.com
    ssh_private_key_file: /root/.ssh/migration
'''

RETURN = r'''
resize:
  description: The instance's resize after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    name:
      description: The instance's name.
      type: str
    status:
      description:
        - V(none) (no resize in progress), V(resizing) (started, not finished - run V(resized) again or V(reverted))
          or V(resized) (waits for confirm or revert).
      type: str
      sample: resized
    original:
      description:
        - The original on the source pool (C(uuid), C(name), C(power_state), C(prior_state) - its power state before
          the resize, while it waits), or null when there is none (after a confirm) or more than one.
      type: dict
      sample: {uuid: 0f4b8ae3-8bd7-4d56-9b0a-3b5b0a1d2c3e, name: web01-orig, power_state: halted, prior_state: running}
    resized:
      description:
        - The resized instance on the destination pool while it waits for confirm or revert (C(uuid) - null in check
          mode before it is made, C(name), C(power_state), C(vcpus), C(memory_mb), C(root_size) in bytes), or null.
      type: dict
    carrier:
      description: The carrier VM of a shrunk root disk left on the source pool (C(uuid), C(name)), or null.
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
msg:
  description: With V(confirmed) or V(reverted) and no resize pending, what was found (nothing was to be done).
  returned: when there was nothing to confirm or revert
  type: str
  sample: No resize of web01 waits for confirm or revert (none is pending); there was nothing to confirm.
bytes_transferred:
  description: Bytes of VHD this run sent to the destination.
  returned: always
  type: int
actions:
  description:
    - The steps taken (or, in check mode, that would be taken), in order - C(rename_original), C(shut_down_original),
      C(shrink_root), C(make_carrier), C(send_disks), C(make_resized), C(grow_root), C(start_resized), C(drop_carrier);
      C(destroy_original), C(clear_resize_mark); C(destroy_resized), C(restore_original).
  returned: always
  type: list
  elements: str
  sample: [rename_original, send_disks, make_resized, grow_root, start_resized]
vm:
  description:
    - The VM the instance runs as after the run, on the pool where it is now, as M(novaops.compute.xen_vm_info)
      returns it without its record and chains (its VIFs with their dom0 ports) - after V(resized) the resized
      instance on the destination pool, after V(reverted) the original under its name on the source pool.
    - Null after V(confirmed), in check mode, or when no one VM is found; so the wiring of its VIFs that
      follows a resize or a revert needs no read of its own.
  returned: always
  type: dict
  sample: {uuid: 7d7e2a8c-8f2a-4b8c-9c1e-1c2d3e4f5a6b, name: web01, power_state: running, vcpus: 4, memory_mb: 4096,
           vifs: [{device: "0", mac: "02:16:3e:00:00:01", port: vif12.0}]}
duration:
  description: Seconds the run took.
  returned: always
  type: float
'''

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.disks.diskops import DiskCommands
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.module_main import run_between_pools
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.common.ssh_host import ssh_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.helper_vm import HelperVM, helper_vm_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import (
    RESIZE_CARRIER_OF, RESIZE_OF, RESIZE_PRIOR_STATE)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi import resize_record as record
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.steps import XenSteps, refuse_empty_suffixes
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vdi_resizer import check_shrink_fits
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_migration import (
    destination_argument_spec, ssh_material)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_facts import (
    Records, find_vms, public_facts, vm_facts, vms_named)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import xenapi_argument_spec

MIB = 1024 * 1024
GIB = 1024 * MIB
SSH_OPTIONS = ("ssh_host", "ssh_port", "ssh_user", "ssh_private_key", "ssh_private_key_file", "ssh_known_hosts",
               "ssh_known_hosts_file", "insecure_ignore_host_key", "ssh_connect_timeout")
# what each action is, in a failure's message
TITLES = dict(
    rename_original="rename the original, noting its power state for revert",
    shut_down_original="shut the original down (a disk is shrunk only from a halted VM)",
    shrink_root="shrink the root disk into a new, smaller VDI (the original is only read)",
    make_carrier="make the carrier VM of the shrunk copy",
    send_disks="send the VHD chains to the destination SR",
    make_resized="make the new VM from the copied disks, with the new flavor",
    grow_root="grow the root disk to the new flavor",
    start_resized="start the resized instance (when the original ran)",
    drop_carrier="drop the carrier of the shrunk copy",
)


def argument_spec():
    spec = xenapi_argument_spec().merge(destination_argument_spec()).merge(ssh_argument_spec())
    spec.merge(helper_vm_argument_spec()).merge(lock_argument_spec())
    return spec.merge(ArgumentSpec(dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="resized", choices=["resized", "confirmed", "reverted"]),
        flavor=dict(type="dict", options=dict(
            vcpus=dict(type="int"), memory_mb=dict(type="int"), root_gb=dict(type="int"), root_mb=dict(type="int"),
            ephemeral_gb=dict(type="int"), swap_mb=dict(type="int"))),
        template=dict(type="str"),
        dest_sr_uuid=dict(type="str"),
        dest_helper_vm_uuid=dict(type="str"),
        dest_device_dir=dict(type="path"),
        grow_filesystem=dict(type="bool", default=False),
        name_from=dict(type="str"),
        orig_suffix=dict(type="str", default="-orig"),
        carrier_suffix=dict(type="str", default="-resize"),
        shutdown_timeout=dict(type="int", default=60),
        timeout=dict(type="int", default=600),
    ), required_if=[("state", "resized", ["template", "ssh_host"])],
        input_rules={"flavor.vcpus": rules.Between(1), "flavor.memory_mb": rules.POSITIVE_AMOUNT,
                     "flavor.root_gb": rules.AMOUNT, "flavor.root_mb": rules.AMOUNT,
                     "flavor.ephemeral_gb": rules.AMOUNT, "flavor.swap_mb": rules.AMOUNT,
                     "shutdown_timeout": rules.SECONDS, "timeout": rules.SECONDS}))


def _vifs(original):
    """The original's VIFs for the new VM: the same networks (by name, on the destination pool), the same MACs."""
    return [dict(network=v["network_name"], mac=v["mac"], device=v["device"]) for v in original["vifs"]]


def _facts(vm, *keys):
    return dict((key, vm[key]) for key in keys) if vm else None


def instance_now(state, resize, src, dst):
    """The VM the instance runs as after a run of state (resize: its facts after the run), as xen_vm_info
    returns it: the resized instance (by uuid) on the destination pool, or after a revert the original under
    its name on the source pool; None after a confirm or when no one VM is found."""
    if state == "resized" and resize["resized"] and resize["resized"]["uuid"]:
        conn, wanted = dst, dict(uuid=resize["resized"]["uuid"])
    elif state == "reverted":
        conn, wanted = src, dict(name=resize["name"])
    else:
        return None
    records = Records(conn)
    found = find_vms(records, **wanted)
    if len(found) != 1:
        return None
    ref, rec = next(iter(found.items()))
    return public_facts(vm_facts(records, ref, rec, consoles=True, snapshots=True))


class Resize(Manager):
    """One instance's XenAPI resize, confirm or revert (Nova's three steps), across two pools or within one."""

    def __init__(self, module, src, dst):
        super().__init__(module)
        self.src, self.dst = src, dst
        self.steps = XenSteps(module, src, dst)
        self.name = self.params["name"]
        self.rec = None
        self.original = None
        self.resumed = False       # the resize was done before this run: a failure leaves it as it is
        self.made = {}             # what this run's steps made: shrunk VDI, carrier, copied disks, new VM
        self.note = None           # what a run that had nothing to do says
        self.step = None           # the step of a resize that runs (a failure names it)
        self.bytes = 0

    # -- reading -------------------------------------------------------------------------------
    def read(self):
        p = self.params
        src = Records(self.src)
        self.rec = record.ResizeRecord.find(src, src if self.dst is self.src else Records(self.dst), self.name,
                                            p["orig_suffix"], p["carrier_suffix"])
        return self.facts(self.rec)

    def facts(self, rec):
        resized = rec.resized[0] if rec.resized else None
        root = record.root_disk(resized) if resized else None
        original = rec.originals[0] if len(rec.originals) == 1 else None
        return dict(
            name=self.name, status=rec.status,
            original=dict(_facts(original, "uuid", "name", "power_state"),
                          prior_state=(original["other_config"].get(RESIZE_PRIOR_STATE) or None)) if original else None,
            resized=dict(_facts(resized, "uuid", "name", "power_state", "vcpus", "memory_mb"),
                         root_size=root["size"] if root else None) if resized else None,
            carrier=_facts(rec.carriers[0], "uuid", "name") if rec.carriers else None)

    def result(self, facts):
        out = dict(resize=facts, bytes_transferred=self.bytes,
                   vm=None if self.module.check_mode else instance_now(self.params["state"], facts, self.src, self.dst))
        if self.note:
            out["msg"] = self.note
        return self.steps.with_lock_report(out)

    def diff_view(self, facts):
        return facts

    # -- planning ------------------------------------------------------------------------------
    def plan(self, before, plan):
        refuse_empty_suffixes(self.params, ("orig_suffix", "carrier_suffix"))
        state = self.params["state"]
        if state != "resized" and self.rec.nothing_found:
            source = " (%s)" % self.params["name_from"] if self.params["name_from"] else ""
            raise NovaopsError("No VM is named %s or %s on the source pool, and none %s on the destination pool: there "
                               "is no such instance. Check the option name%s. Nothing was changed."
                               % (self.name, self.rec.orig_name, self.name, source))
        if state == "confirmed":
            return self.plan_confirmed(before, plan)
        if state == "reverted":
            return self.plan_reverted(before, plan)
        return self.plan_resized(before, plan)

    def nothing_pending(self, before, plan, action):
        """Confirm or revert with no resize pending: no change, and a message that says so."""
        if not plan:
            self.note = ("No resize of %s waits for confirm or revert (%s); there was nothing to %s."
                         % (self.name, "it is half done: run the resize again, or revert it"
                            if before["status"] == "resizing" else "none is pending", action))

    def wanted(self, original):
        """(vcpus, memory_mb, root size in bytes) of the new flavor; unset values are the original's."""
        flavor = self.params["flavor"] or {}
        root = record.root_disk(original)
        if root is None:
            raise NovaopsError("The original %s has no root disk (userdevice 0); there is nothing to resize. Nothing "
                               "was changed." % original["name"])
        size = root["size"]
        if (flavor.get("root_mb") or 0) > 0:
            size = flavor["root_mb"] * MIB
        elif (flavor.get("root_gb") or 0) > 0:
            size = flavor["root_gb"] * GIB
        return flavor.get("vcpus") or original["vcpus"], flavor.get("memory_mb") or original["memory_mb"], size

    def plan_resized(self, before, plan):
        if self.params["dest_sr_uuid"]:
            self.dst.find("SR", uuid=self.params["dest_sr_uuid"], what="destination SR")
        original = self.original = self.rec.one_original()
        vcpus, memory_mb, size = self.wanted(original)
        down = size < record.root_disk(original)["size"]
        prior = record.prior_state(original)
        if self.rec.resized:
            self.resumed = True
            self.check_same_flavor(self.rec.resized[0], vcpus, memory_mb, size, down)
            self.made["resized"] = self.rec.resized[0]["uuid"]
            self.plan_finish(plan, vcpus, memory_mb, size, down, prior)
        else:
            self.check_before_anything(original, vcpus, memory_mb, size, down)
            self.add(plan, "rename_original", self.rename_original, original)
            if down:
                self.add(plan, "shut_down_original", self.steps.vm, self.src,
                         dict(uuid=original["uuid"], state="halted", force=True))
                self.add(plan, "shrink_root", self.shrink_root, original, size)
                self.add(plan, "make_carrier", self.make_carrier, original)
            self.add(plan, "send_disks", self.send_disks, original, down)
            self.add(plan, "make_resized", self.make_resized, original, vcpus, memory_mb)
            if not down:
                self.add(plan, "grow_root", self.grow_root, size)
            self.add(plan, "start_resized", self.start_resized, prior)
        carriers = [vm["uuid"] for vm in self.rec.carriers]
        if carriers or (down and not self.resumed):
            self.add(plan, "drop_carrier", self.drop_carrier, carriers)
        return dict(before, status="resized", carrier=None,
                    original=dict(before["original"], name=self.rec.orig_name, prior_state=prior, power_state="halted"),
                    resized=dict(uuid=self.made.get("resized"), name=self.name, power_state=prior, vcpus=vcpus,
                                 memory_mb=memory_mb, root_size=size))

    def add(self, plan, name, run, *args, **kwargs):
        """An action of the plan that, while it runs, is the step a failure names."""
        plan.add(name, self.run_as_step, name, run, *args, **kwargs)

    def run_as_step(self, name, run, *args, **kwargs):
        self.step = name
        return run(*args, **kwargs)

    def check_before_anything(self, original, vcpus, memory_mb, size, down):
        """What the steps of a new resize would refuse half way, refused before the first: the new VM (template,
        flavor, the VIFs' networks on the destination) and a carrier as xen_vm would plan them, the ssh key and
        known_hosts files, and a root filesystem that does not fit the smaller disk."""
        self.original = original
        self.steps.vm_would_change(self.dst, self.resized_vm_params(vcpus, memory_mb, vifs=_vifs(original)))
        if down:
            self.steps.vm_would_change(self.src, self.carrier_params(original, []))
        ssh_material(self.params)
        if down:
            self.check_fits(original, size)

    def check_fits(self, original, size):
        """The root filesystem's minimum size, read from a snapshot (the original may run): a shrink it does not
        fit is refused before anything changes."""
        try:
            check_shrink_fits(self.src, HelperVM.from_params(self.src, self.params),
                              DiskCommands.from_module(self.module), record.root_disk(original)["_vdi_ref"], size,
                              self.params["timeout"])
        except NovaopsError as exc:
            raise NovaopsError("Resizing %s down to a %d-byte root disk is refused: %s Nothing was changed."
                               % (self.name, size, exc.msg.rstrip()), **exc.facts)

    def check_same_flavor(self, resized, vcpus, memory_mb, size, down):
        """A resize that waits for confirm or revert is to this flavor (a re-run), not to another."""
        root = record.root_disk(resized)
        have = root["size"] if root else 0
        growing = not down and have < size      # a grow not done yet: this run finishes it
        if resized["vcpus"] != vcpus or resized["memory_mb"] != memory_mb or \
                (abs(have - size) >= record.SIZE_TOLERANCE and not growing):
            raise NovaopsError("%s was resized to %d VCPUs, %d MiB and a %d-byte root disk, and waits for confirm or "
                               "revert; confirm or revert that resize before another. Nothing was changed."
                               % (self.name, resized["vcpus"], resized["memory_mb"], have))

    def plan_finish(self, plan, vcpus, memory_mb, size, down, prior):
        """A resize done before this run: only what is not as it should be yet (a failed grow or start)."""
        make = self.resized_vm_params(vcpus, memory_mb)
        if self.steps.vm_would_change(self.dst, make):
            self.add(plan, "make_resized", self.steps.vm, self.dst, make)
        grow = self.grow_params(size)
        if not down and self.steps.vdi_resize_would_change(self.dst, grow):
            self.add(plan, "grow_root", self.steps.vdi_resize, self.dst, grow)
        start = dict(uuid=self.made["resized"], state="halted" if prior == "halted" else "running")
        if self.steps.vm_would_change(self.dst, start):
            self.add(plan, "start_resized", self.steps.vm, self.dst, start)

    def plan_confirmed(self, before, plan):
        """Nova's confirm: the resized instance is kept, the original (with the disks it owns) destroyed."""
        rec = self.rec
        if len(rec.resized) > 1:
            raise NovaopsError("%d VMs named %s are marked as resized; confirm them by hand."
                               % (len(rec.resized), self.name))
        resized = rec.resized[0] if rec.resized else None
        # xen_vm destroys a VM's disks before the VM: a revert that failed after that left the copy without them
        if resized is not None and record.root_disk(resized) is None:
            raise NovaopsError("The resized %s on the destination has no root disk any more: a revert stopped half way "
                               "after destroying it. Run the revert again (state=reverted) to finish it; confirming "
                               "now would lose the instance. Nothing was changed." % self.name)
        original = rec.original_of(resized) if resized else None
        if original is not None:
            plan.add("destroy_original", self.steps.vm, self.src, dict(uuid=original["uuid"], state="absent"))
        for carrier in rec.carriers:
            plan.add("drop_carrier", self.steps.vm, self.src, dict(uuid=carrier["uuid"], state="absent"))
        if resized is not None:
            plan.add("clear_resize_mark", self.steps.vm, self.dst, dict(uuid=resized["uuid"], other_config={RESIZE_OF: ""}))
        self.nothing_pending(before, plan, "confirm")
        after = dict(before, status="none", carrier=None)
        if resized is not None:
            after.update(original=None, resized=None)
        return after

    def plan_reverted(self, before, plan):
        """Nova's revert: the resized instance (with the copies it owns) destroyed, the original back under its
        name and in its power state from before - its disks never changed."""
        rec = self.rec
        resized = rec.resized[0] if rec.resized else None
        if len(rec.resized) > 1 or (resized is not None and rec.original_of(resized) is None):
            raise NovaopsError("%d VMs named %s are marked as resized, of %s, and the originals found are %s; nothing "
                               "was changed." % (len(rec.resized), self.name,
                                                 ", ".join(vm["other_config"][RESIZE_OF] for vm in rec.resized),
                                                 ", ".join(vm["uuid"] for vm in rec.originals) or "none"))
        # xen_vm destroys a VM's disks before the VM: a confirm that failed after that left the original without them
        if resized is not None and record.root_disk(rec.original_of(resized)) is None:
            raise NovaopsError("The original of %s has no root disk any more: a confirm stopped half way after "
                               "destroying it. Run the confirm again (state=confirmed) to finish it; reverting now "
                               "would lose the instance. Nothing was changed." % self.name)
        if resized is not None:
            plan.add("destroy_resized", self.steps.vm, self.dst, dict(uuid=resized["uuid"], state="absent"))
        for carrier in rec.carriers:
            plan.add("drop_carrier", self.steps.vm, self.src, dict(uuid=carrier["uuid"], state="absent"))
        for original in rec.reverting():
            plan.add("restore_original", self.restore_original, original)
        self.nothing_pending(before, plan, "revert")
        after = dict(before, status="none", resized=None, carrier=None)
        if before["original"] is not None and rec.reverting():
            after["original"] = dict(before["original"], name=self.name, prior_state=None,
                                     power_state=record.prior_state(rec.reverting()[0]))
        return after

    # -- the steps of a resize -----------------------------------------------------------------
    def rename_original(self, original):
        mark = None if original["other_config"].get(RESIZE_PRIOR_STATE) else {RESIZE_PRIOR_STATE: original["power_state"]}
        self.steps.vm(self.src, dict(uuid=original["uuid"], name=self.rec.orig_name, other_config=mark))

    def shrink_root(self, original, size):
        p = self.params
        done = self.steps.vdi_resize(self.src, dict(
            vdi_uuid=record.root_disk(original)["vdi_uuid"], size=str(size), replace_in_vm=False,
            helper_vm_uuid=p["helper_vm_uuid"], device_dir=p["device_dir"]))
        self.made["shrunk"] = done["vdi"]["uuid"]

    def make_carrier(self, original):
        """The carrier VM holds the shrunk copy (as its own root) and the original's other disks."""
        disks = [dict(userdevice="0", vdi=self.made["shrunk"], adopt=True, bootable=True)]
        disks += [dict(userdevice=d["userdevice"], vdi=d["vdi_uuid"], bootable=False) for d in original["disks"]
                  if d["userdevice"] != "0" and d.get("vdi_uuid")]
        made = self.steps.vm(self.src, self.carrier_params(original, disks))
        self.made["carrier"] = made["vm"]["uuid"]

    def carrier_params(self, original, disks):
        return dict(name=self.name + self.params["carrier_suffix"], template=self.params["template"],
                    template_disks=False, disks=disks, other_config={RESIZE_CARRIER_OF: original["uuid"]},
                    state="present")

    def send_disks(self, original, down):
        """The VHD chains into the destination SR: the parents while the original runs, the leaf after."""
        p = self.params
        ssh = dict((name, p[name]) for name in SSH_OPTIONS)
        sent = self.steps.migrate(dict(ssh, vm_uuid=self.made["carrier"] if down else original["uuid"], shutdown=True,
                                       shutdown_timeout=p["shutdown_timeout"], instance_uuid=original["uuid"],
                                       dest_sr_uuid=p["dest_sr_uuid"]))
        self.made["copied"] = sent["disks"]
        self.bytes += sent["bytes_transferred"]

    def resized_vm_params(self, vcpus, memory_mb, disks=None, vifs=None):
        return dict(name=self.name, template=self.params["template"], template_disks=False, vcpus=vcpus,
                    memory_mb=memory_mb, disks=disks, vifs=vifs, other_config={RESIZE_OF: self.original["uuid"]},
                    state="present", force=True)

    def make_resized(self, original, vcpus, memory_mb):
        """The new VM from the copied disks (it owns them), the original's VIFs (the same networks by name and
        the same MACs), the new flavor."""
        disks = [dict(userdevice=d["userdevice"], vdi=d["vdi"], adopt=True, bootable=d["userdevice"] == "0")
                 for d in self.made["copied"]]
        made = self.steps.vm(self.dst, self.resized_vm_params(vcpus, memory_mb, disks, _vifs(original)))
        self.made["resized"] = made["vm"]["uuid"]

    def grow_params(self, size):
        p = self.params
        return dict(vm=self.made["resized"], size=str(size), grow_filesystem=p["grow_filesystem"],
                    helper_vm_uuid=p["dest_helper_vm_uuid"], device_dir=p["dest_device_dir"])

    def grow_root(self, size):
        self.steps.vdi_resize(self.dst, self.grow_params(size))

    def start_resized(self, prior):
        self.steps.vm(self.dst, dict(uuid=self.made["resized"], state="halted" if prior == "halted" else "running"))

    def drop_carrier(self, carriers):
        """The shrunk copy on the source has travelled; its carrier (and one an interrupted run left) goes."""
        for uuid in sorted(set(carriers + [self.made.get("carrier")]) - {None}):
            self.steps.vm(self.src, dict(uuid=uuid, state="absent"))

    def restore_original(self, original):
        """The original gets its name and its power state back; then the note of that state goes (kept till
        now, so that a failed start is resumed by the next run)."""
        power = "halted" if (original["other_config"].get(RESIZE_PRIOR_STATE) or "") == "halted" else "running"
        self.steps.vm(self.src, dict(uuid=original["uuid"], name=self.name, state=power))
        self.steps.vm(self.src, dict(uuid=original["uuid"], other_config={RESIZE_PRIOR_STATE: ""}))

    # -- a failure -----------------------------------------------------------------------------
    def apply(self, plan):
        try:
            return plan.apply()
        except NovaopsError as exc:
            if self.params["state"] != "resized":
                raise
            step = TITLES.get(self.step, self.step)
            if self.resumed:
                raise NovaopsError("Finishing the resize of %s failed at '%s': %s It had been resized before this run "
                                   "and was left as it is; run again, or revert it (state=reverted)."
                                   % (self.name, step, exc.msg), **exc.facts)
            self.roll_back(exc, step)

    def roll_back(self, exc, step):
        """After a failed resize: the half-made new VM and the carrier go (each found by its mark, so nothing
        else is touched), the original gets its name and its power state back."""
        original = self.original
        prior = record.prior_state(original)
        try:
            for conn, vm in self.made_so_far(original):
                self.steps.vm(conn, dict(uuid=vm["uuid"], state="absent"))
            self.steps.vm(self.src, dict(uuid=original["uuid"], name=self.name,
                                         state="halted" if prior == "halted" else "running"))
            self.steps.vm(self.src, dict(uuid=original["uuid"], other_config={RESIZE_PRIOR_STATE: ""}))
        except NovaopsError as undo:
            raise NovaopsError("Resizing %s failed at '%s': %s Putting the original back failed too (%s); run the "
                               "resize again to finish it, or revert it (state=reverted)."
                               % (self.name, step, exc.msg, undo.msg), **exc.facts)
        raise NovaopsError("Resizing %s failed at '%s': %s The original VM %s was given its name back and its power "
                           "state, with its own disks; what the resize had made was removed."
                           % (self.name, step, exc.msg, original["uuid"]), **exc.facts)

    def made_so_far(self, original):
        """[(pool, VM)] of the new VM on the destination and the carrier on the source that this resize made."""
        dst = Records(self.dst)
        carriers = vms_named(Records(self.src), self.name + self.params["carrier_suffix"])
        return ([(self.dst, vm) for vm in record.made_for(vms_named(dst, self.name), RESIZE_OF, original["uuid"])]
                + [(self.src, vm) for vm in record.made_for(carriers, RESIZE_CARRIER_OF, original["uuid"])])


def main():
    run_between_pools(argument_spec(), Resize)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A VDI grown, or shrunk the way Nova did (the manager of the xen_vdi_resize module).

xen_resize runs it as a step of its own (manager_step.py).
"""

from __future__ import annotations

import contextlib

from ansible.module_utils.common.text.formatters import human_to_bytes

from ansible_collections.novaops.compute.plugins.module_utils.disks import diskops
from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.helper_vm import HelperVM, helper_vm_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.operation_lock import XenOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.resize_leftovers import STALE_CLEANERS
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import (
    RESIZE_CLONE_OF as CLONE_TAG, RESIZED_FROM as TAG_FROM, RESIZED_TO as TAG_TO)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import (
    xenapi_argument_spec)

GRANULE = 2 * 1024 * 1024
FIT_CHECK_LABEL = "novaops resize fit check"
SECTOR = diskops.SECTOR


def argument_spec():
    spec = xenapi_argument_spec()
    spec.merge(helper_vm_argument_spec())
    spec.merge(lock_argument_spec())
    return spec.merge(ArgumentSpec(dict(
        vdi_uuid=dict(type="str"),
        vm=dict(type="str"),
        userdevice=dict(type="str", default="0"),
        size=dict(type="str", required=True),
        grow_filesystem=dict(type="bool", default=False),
        replace_in_vm=dict(type="bool", default=True),
        timeout=dict(type="float", default=600),
    ), required_one_of=[["vdi_uuid", "vm"]], mutually_exclusive=[["vdi_uuid", "vm"]],
        input_rules={"timeout": rules.SECONDS}))


def parse_size(value):
    text = str(value).strip()
    if text.startswith("-"):
        raise NovaopsError("size must be larger than zero (got %s); a disk cannot be resized to nothing." % value)
    try:
        if text.isdigit():
            size = int(text)
        else:
            size = human_to_bytes(text.replace("iB", "B").replace("ib", "b"))
    except (ValueError, TypeError) as exc:
        raise NovaopsError("size %r is not a size (bytes, or a number with a unit such as 10GiB): %s" % (value, exc))
    if size <= 0:
        raise NovaopsError("size must be larger than zero (got %s); a disk cannot be resized to nothing." % value)
    return size


def inspect_disk(helper, commands, vdi_ref):
    """Plug the VDI read-only into the helper VM: its partition table and ext facts. Writes nothing."""
    with helper.attached(vdi_ref, read_only=True, purpose="inspect") as device:
        layout = diskops.read_disk_layout(commands, device)
        part = diskops.single_ext_partition(layout)
        if layout["label"] == "gpt":
            commands.require("sgdisk", "gdisk", "Resizing a disk with a GPT")
        ext = diskops.ext_facts(commands, diskops.partition_path(device, part, layout["sector_size"]))
    if layout["sector_size"] != SECTOR:
        raise NovaopsError("The disk has %d-byte sectors; only 512-byte sectors are supported." % layout["sector_size"])
    return dict(layout=layout, partition=part, ext=ext)


def shrink_geometry(info, size):
    """Where partition 1 of an inspected disk ends once shrunk to size (rounded up to GRANULE); a NovaopsError
    saying by how much when its filesystem does not fit."""
    target = -(-size // GRANULE) * GRANULE
    return diskops.shrink_geometry(info["layout"], info["partition"], size, target, info["ext"]["min_size"],
                                   granule=GRANULE)


def check_shrink_fits(conn, helper, commands, vdi_ref, size, timeout):
    """Refuse a shrink of the disk to size that its filesystem does not fit, read from a snapshot of it so that
    its VM may run and nothing of it changes: the snapshot is plugged read-only into the helper VM and destroyed,
    always.  Returns the geometry of the shrink."""
    snapshot = conn.run_async("VDI.snapshot", vdi_ref, {}, timeout=timeout)
    try:
        conn.call("VDI.set_name_label", snapshot, FIT_CHECK_LABEL)
        return shrink_geometry(inspect_disk(helper, commands, snapshot), size)
    finally:
        try:
            conn.call("VDI.destroy", snapshot)
        except NovaopsError as exc:
            raise NovaopsError("The snapshot %s that checked whether the filesystem fits could not be destroyed (%s); "
                               "destroy it (VDI %s), then run again. Nothing else was changed."
                               % (FIT_CHECK_LABEL, exc.msg, conn.call("VDI.get_uuid", snapshot)), **exc.facts)


class VDIResize(Manager):

    def __init__(self, module, conn):
        super().__init__(module)
        self.conn = conn
        self.timeout = self.params["timeout"]
        self._helper = None
        self._before = None
        self._work = {}
        self._stack = None
        self._copy = dict(bytes_copied=0, bytes_skipped=0)
        self._inspected = None

    @property
    def helper(self):
        if self._helper is None:
            self._helper = HelperVM.from_params(self.conn, self.params)
        return self._helper

    # ---------------------------------------------------------------- read
    def _resolve(self):
        params = self.params
        if params["vdi_uuid"]:
            ref, rec = self.conn.find("VDI", uuid=params["vdi_uuid"])
        else:
            vm_ref, vm = self._find_vm(params["vm"])
            ref = rec = None
            for vbd in self.conn.call("VM.get_VBDs", vm_ref):
                vbd_rec = self.conn.call("VBD.get_record", vbd)
                if vbd_rec["userdevice"] == params["userdevice"] and vbd_rec["type"] == "Disk" \
                        and not vbd_rec.get("empty") and vbd_rec["VDI"] != "OpaqueRef:NULL":
                    ref = vbd_rec["VDI"]
                    rec = self.conn.call("VDI.get_record", ref)
            if ref is None:
                raise NovaopsError("VM %s has no disk at userdevice %s." % (vm["name_label"], params["userdevice"]))
        target = rec.get("other_config", {}).get(TAG_TO)
        if target:
            new_ref, new_rec = self.conn.find("VDI", uuid=target, required=False)
            if new_ref is not None:
                ref, rec = new_ref, new_rec
        return ref, rec

    def _find_vm(self, name):
        def usable(rec):
            return not rec["is_a_template"] and not rec["is_a_snapshot"] and not rec["is_control_domain"]
        if UUID_RE.match(name):
            return self.conn.find("VM", uuid=name, what="VM")
        return self.conn.find("VM", name=name, where=usable, what="VM")

    def read(self):
        ref, rec = self._resolve()
        self.vdi_ref = ref
        sr_uuid = self.conn.call("SR.get_uuid", rec["SR"])
        vm = None
        self.vm_ref = self.vm_vbd = None
        attached = False
        for vbd in rec.get("VBDs", []):
            vbd_rec = self.conn.call("VBD.get_record", vbd)
            attached = attached or bool(vbd_rec["currently_attached"])
            vm_rec = self.conn.call("VM.get_record", vbd_rec["VM"])
            if vm_rec["uuid"] == self.params.get("helper_vm_uuid") or vm_rec["is_control_domain"]:
                continue
            if self.vm_ref is None:
                self.vm_ref, self.vm_vbd = vbd_rec["VM"], vbd
                vm = dict(uuid=vm_rec["uuid"], name_label=vm_rec["name_label"],
                          power_state=vm_rec["power_state"].lower(), userdevice=vbd_rec["userdevice"])
        facts = dict(vdi=dict(uuid=rec["uuid"], name_label=rec["name_label"], virtual_size=int(rec["virtual_size"]),
                              sr=sr_uuid),
                     vm=vm, attached=attached, allowed_operations=list(rec.get("allowed_operations", [])),
                     original_vdi=rec.get("other_config", {}).get(TAG_FROM))
        if self._before is None:
            self._before = facts
        return facts

    # ---------------------------------------------------------------- plan
    def _inspect(self):
        """Plug the VDI read-only into the helper VM: partition table and ext facts. Writes nothing."""
        if self._inspected is None:
            self._inspected = inspect_disk(self.helper, self.commands, self.vdi_ref)
        return self._inspected

    @property
    def commands(self):
        if not hasattr(self, "_commands"):
            self._commands = diskops.DiskCommands.from_module(self.module)
        return self._commands

    def plan(self, before, plan):
        size = parse_size(self.params["size"])
        target = -(-size // GRANULE) * GRANULE
        current = before["vdi"]["virtual_size"]
        vm = before["vm"]
        self.target = target
        expected = dict(before)
        expected["vdi"] = dict(before["vdi"], virtual_size=target)
        if target > current:
            online = before["attached"]
            if self.params["grow_filesystem"]:
                if online or (vm and vm["power_state"] != "halted"):
                    raise NovaopsError("grow_filesystem needs the VM halted (%s is %s): the filesystem is grown "
                                       "from the helper VM. Halt it, or grow without grow_filesystem."
                                       % (vm["name_label"] if vm else "the disk", vm["power_state"] if vm else "attached"))
                self._inspect()
            if online:
                if "resize_online" not in before["allowed_operations"]:
                    raise NovaopsError("The disk is attached to a running VM and its SR cannot resize online; "
                                       "halt the VM first.")
                plan.add("resize_online", self._resize, "VDI.resize_online", target)
            else:
                plan.add("resize", self._resize, "VDI.resize", target)
            if self.params["grow_filesystem"]:
                plan.add("grow_filesystem", self._grow_filesystem)
            return expected
        if target == current:
            if self.params["grow_filesystem"] and not before["attached"] and not (vm and vm["power_state"] != "halted"):
                info = self._inspect()
                if info["partition"]["end"] < diskops.last_partition_sector(info["layout"], current):
                    plan.add("grow_filesystem", self._grow_filesystem)
            return expected
        return self._plan_shrink(before, plan, size, target, expected)

    def _plan_shrink(self, before, plan, size, target, expected):
        vm = before["vm"]
        current = before["vdi"]["virtual_size"]
        if vm and vm["power_state"] != "halted":
            raise NovaopsError("VM %s is %s; shrinking a disk needs it halted (shrinking by %d bytes)."
                               % (vm["name_label"], vm["power_state"], current - target))
        if before["attached"]:
            raise NovaopsError("VDI %s is plugged in somewhere; a disk being shrunk must not be in use."
                               % before["vdi"]["uuid"])
        geometry = shrink_geometry(self._inspect(), size)
        self.new_end = geometry["new_end"]
        plan.add("clone_vdi", self._clone)
        plan.add("create_vdi", self._create, target)
        plan.add("attach_disks", self._attach)
        plan.add("resize_filesystem", self._shrink_fs)
        plan.add("copy_partition", self._copy_partition)
        plan.add("check_new_disk", self._check_new_disk)
        plan.add("detach_disks", self._detach)
        plan.add("destroy_clone", self._destroy_clone)
        plan.add("tag_original", self._tag_original)
        if self.params["replace_in_vm"] and self.vm_vbd:
            plan.add("replace_vbd", self._replace_vbd)
        expected["vdi"] = dict(before["vdi"], uuid="new", virtual_size=target)
        expected["original_vdi"] = before["vdi"]["uuid"]
        return expected

    # ---------------------------------------------------------------- actions
    def _resize(self, method, size):
        self.conn.run_async(method, self.vdi_ref, str(size), timeout=self.timeout)

    def _grow_filesystem(self):
        has_journal = self._inspect()["ext"]["has_journal"]
        with self.helper.attached(self.vdi_ref, purpose="grow") as device:
            diskops.grow_to_disk_end(self.commands, device, has_journal)

    def _clone(self):
        self._drop_earlier_clones()
        self._work["clone"] = self.conn.run_async("VDI.clone", self.vdi_ref, {}, timeout=self.timeout)
        self.conn.call("VDI.set_name_label", self._work["clone"], "novaops resize clone")
        # found by this tag and destroyed when the mark of a run killed from here on is cleared
        self.conn.call("VDI.remove_from_other_config", self._work["clone"], CLONE_TAG)
        self.conn.call("VDI.add_to_other_config", self._work["clone"], CLONE_TAG,
                       self.conn.call("VDI.get_uuid", self.vdi_ref))

    def _drop_earlier_clones(self):
        """Clones of this source that an earlier run could not destroy (no VBD holds them): they go first,
        or each failed clean-up would leave one more disk that no VM uses."""
        source = self.conn.call("VDI.get_uuid", self.vdi_ref)
        for ref, rec in self.conn.call("VDI.get_all_records").items():
            if (rec.get("other_config") or {}).get(CLONE_TAG) == source and not rec.get("VBDs"):
                self.conn.call("VDI.destroy", ref)

    def _create(self, size):
        rec = self.conn.call("VDI.get_record", self.vdi_ref)
        self._work["new"] = self.conn.run_async("VDI.create", dict(
            name_label=rec["name_label"], name_description=rec["name_description"], SR=rec["SR"],
            virtual_size=str(size), type=rec["type"] or "user", sharable=False, read_only=False,
            other_config={TAG_FROM: rec["uuid"]}, xenstore_data={}, sm_config={}, tags=[]),
            timeout=self.timeout)

    def _attach(self):
        self._stack = contextlib.ExitStack()
        self._work["clone_dev"] = self._stack.enter_context(
            self.helper.attached(self._work["clone"], purpose="resize-clone"))
        self._work["new_dev"] = self._stack.enter_context(
            self.helper.attached(self._work["new"], purpose="resize-new"))

    def _shrink_fs(self):
        info = self._inspected
        diskops.resize_partition_and_fs(self.commands, self._work["clone_dev"], info["partition"], self.new_end,
                                        info["ext"]["has_journal"], label=info["layout"]["label"])

    def _copy_partition(self):
        # boot sectors (MBR or protective MBR and primary GPT, the gap a boot loader lives in)
        # and partition 1, now ending at new_end; the new VDI reads as zeros elsewhere
        self._copy = diskops.sparse_copy(self._work["clone_dev"], self._work["new_dev"],
                                         length=(self.new_end + 1) * SECTOR, dst_zeroed=True)

    def _check_new_disk(self):
        info = self._inspected
        diskops.check_copied_disk(self.commands, self._work["new_dev"], info["partition"], self.new_end,
                                  info["layout"]["label"])

    def _detach(self):
        stack, self._stack = self._stack, None
        stack.close()

    def _destroy_clone(self):
        clone = self._work.pop("clone")
        self.conn.call("VDI.destroy", clone)

    def _replace_vbd(self):
        old = self.conn.call("VBD.get_record", self.vm_vbd)
        fields = dict(VM=old["VM"], userdevice=old["userdevice"], bootable=old["bootable"], mode=old["mode"],
                      type=old["type"], empty=False, unpluggable=old["unpluggable"],
                      other_config=old["other_config"], qos_algorithm_type=old.get("qos_algorithm_type", ""),
                      qos_algorithm_params=old.get("qos_algorithm_params", {}))
        self.conn.call("VBD.destroy", self.vm_vbd)
        try:
            self.conn.call("VBD.create", dict(fields, VDI=self._work["new"]))
        except NovaopsError:
            self.conn.call("VBD.create", dict(fields, VDI=self.vdi_ref))
            raise
        self._work.pop("new")

    def _tag_original(self):
        new_uuid = self.conn.call("VDI.get_uuid", self._work["new"])
        self.conn.call("VDI.remove_from_other_config", self.vdi_ref, TAG_TO)
        self.conn.call("VDI.add_to_other_config", self.vdi_ref, TAG_TO, new_uuid)
        if not (self.params["replace_in_vm"] and self.vm_vbd):
            self._work.pop("new")

    def rollback(self):
        """After a failure: unplug and destroy what this run made; the source was never written."""
        errors = []
        if self._stack is not None:
            try:
                self._detach()
            except NovaopsError as exc:
                errors.append(exc.msg)
        for key in ("clone", "new"):
            ref = self._work.pop(key, None)
            if ref:
                try:
                    self.conn.call("VDI.destroy", ref)
                except NovaopsError as exc:
                    errors.append("%s VDI %s was left behind: %s" % (key, ref, exc.msg))
        return errors

    def operation_lock(self, before):
        if self.vm_ref is not None:
            return XenOperationLock(self.conn, "VM", self.vm_ref, "VM %s" % before["vm"]["name_label"],
                                    "xen_vdi_resize", self.params, cleaners=STALE_CLEANERS)
        return XenOperationLock(self.conn, "VDI", self.vdi_ref, "VDI %s" % before["vdi"]["uuid"], "xen_vdi_resize",
                                self.params, cleaners=STALE_CLEANERS)

    def apply(self, plan):
        try:
            return plan.apply()
        except NovaopsError as exc:
            step = exc.facts.get("action_failed")
            left = self.rollback()
            if left:
                exc.facts["cleanup_errors"] = left
            if step:
                exc.msg = ("Resizing failed at %s (%s undone); the source VDI was not changed: %s"
                           % (step, ", ".join(exc.facts.get("actions_done") or []) or "nothing to be", exc.msg))
                exc.facts["source_unchanged"] = step not in ("resize", "resize_online", "grow_filesystem")
            raise
        except BaseException:
            self.rollback()
            raise

    # ---------------------------------------------------------------- result
    def result(self, facts):
        out = dict(vdi=facts["vdi"], vm=facts["vm"], old_size=self._before["vdi"]["virtual_size"],
                   new_size=facts["vdi"]["virtual_size"], bytes_copied=self._copy["bytes_copied"],
                   bytes_skipped=self._copy["bytes_skipped"])
        if facts.get("original_vdi"):
            out["original_vdi"] = facts["original_vdi"]
        if self._inspected:
            part = self._inspected["partition"]
            out["partition"] = dict(start=part["start"], end=part["end"], fs=part["fs"], flags=part["flags"],
                                    label=self._inspected["layout"]["label"], min_size=self._inspected["ext"]["min_size"])
        return out

    def diff_view(self, facts):
        return dict(vdi_uuid=facts["vdi"]["uuid"], virtual_size=facts["vdi"]["virtual_size"]) if facts else {}

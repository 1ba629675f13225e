# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A XenServer VM brought to a described state (the manager of the xen_vm module).

xen_resize and xen_rescue run it as steps of theirs (manager_step.py).
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout, instance_name_hint
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.common import repair_summary as repairs
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.flavor_disks import flavor_disks
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.operation_lock import XenOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.resize_record import refuse_during
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.resize_leftovers import STALE_CLEANERS
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_chain import default_sr
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import (
    XenAPIError, xenapi_argument_spec)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import (
    ATTACHED_VDIS as ATTACHED_KEY, DESIRED_STATE as DESIRED_KEY, OWNER_VM as OWNER_KEY)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_facts import (
    Records, attached_list, find_one_vm, find_vms,
    public_facts, vm_facts)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi import vm_plan as vp

# Codes after which a clean shutdown / reboot falls back to the hard one.
CLEAN_FALLBACK_CODES = ("VM_SHUTDOWN_TIMEOUT", "VM_MISSING_PV_DRIVERS", "VM_LACKS_FEATURE_SHUTDOWN",
                        "VM_LACKS_FEATURE", "VM_REBOOT_TIMEOUT")


def argument_spec():
    return xenapi_argument_spec().merge(ArgumentSpec(dict(
        uuid=dict(type="str"),
        name=dict(type="str", aliases=["name_label"]),
        new_name=dict(type="str"),
        description=dict(type="str"),
        state=dict(type="str", default="present",
                   choices=["present", "running", "halted", "suspended", "paused", "absent", "rebooted"]),
        reboot=dict(type="str", default="clean", choices=["clean", "hard"]),
        template=dict(type="str"),
        create_mode=dict(type="str", default="clone", choices=["clone", "copy"]),
        template_disks=dict(type="bool"),
        sr=dict(type="str"),
        vcpus=dict(type="int"),
        memory_mb=dict(type="int"),
        flavor=dict(type="dict", options=dict(
            vcpus=dict(type="int", required=True), memory_mb=dict(type="int", required=True),
            root_gb=dict(type="int", default=0), ephemeral_gb=dict(type="int", default=0),
            swap_mb=dict(type="int", default=0))),
        image_vdi=dict(type="str"),
        disks=dict(type="list", elements="dict", options=dict(
            userdevice=dict(type="str"),
            size_gb=dict(type="float"),
            size_mb=dict(type="int"),
            sr=dict(type="str"),
            vdi=dict(type="str"),
            clone_of=dict(type="str"),
            adopt=dict(type="bool", default=False),
            name=dict(type="str"),
            bootable=dict(type="bool"),
            mode=dict(type="str", choices=["RW", "RO"]),
        )),
        vifs=dict(type="list", elements="dict", options=dict(
            network=dict(type="str", required=True),
            mac=dict(type="str"),
            device=dict(type="str"),
        )),
        other_config=dict(type="dict"),
        xenstore_data=dict(type="dict"),
        bootlock=dict(type="bool"),
        force=dict(type="bool", default=False),
        timeout=dict(type="int", default=300),
        resize_orig_suffix=dict(type="str", default="-orig"),
    ), required_one_of=[["uuid", "name"]],
        mutually_exclusive=[["flavor", "vcpus"], ["flavor", "memory_mb"]],
        required_by={"image_vdi": "flavor"},
        input_rules={"uuid": rules.Uuid("VM"), "vcpus": rules.Between(1), "memory_mb": rules.POSITIVE_AMOUNT,
                     "flavor.vcpus": rules.Between(1), "flavor.memory_mb": rules.POSITIVE_AMOUNT,
                     "flavor.root_gb": rules.AMOUNT, "flavor.ephemeral_gb": rules.AMOUNT,
                     "flavor.swap_mb": rules.AMOUNT,
                     "disks.size_mb": rules.AMOUNT, "timeout": rules.SECONDS_AT_LEAST_ONE},
    )).merge(lock_argument_spec())


def _diff_view(facts):
    if facts is None:
        return {}
    view = dict((k, facts.get(k)) for k in ("uuid", "name", "description", "power_state", "vcpus", "memory_mb",
                                            "other_config", "xenstore_data", "blocked_operations"))
    view["disks"] = dict((d["userdevice"], dict(vdi=d.get("vdi_uuid"), size=d.get("size"), sr=d.get("sr_name"),
                                                bootable=d["bootable"], mode=d["mode"], owned=d.get("owned")))
                         for d in facts.get("disks", []))
    view["vifs"] = dict((v["device"], dict(network=v.get("network_name"), mac=v.get("mac")))
                        for v in facts.get("vifs", []))
    return view


# Nova's XenAPI booted an image on this template: it gives the VM's settings, the image its root disk.
IMAGE_TEMPLATE = "Other install media"


def creation_source(params):
    """The template and template_disks a new VM is made with: booting an image (image_vdi given, '' too), the
    root disk is the image's clone, so the template (default IMAGE_TEMPLATE) provisions no disks of its own."""
    from_image = params["image_vdi"] is not None
    template_disks = params["template_disks"]
    return dict(template=params["template"] or (IMAGE_TEMPLATE if from_image else None),
                template_disks=(not from_image) if template_disks is None else template_disks)


class VM(Manager):

    AFTER_READ_UNDER_LOCK = True      # the lock checks its mark in that read before it releases

    def __init__(self, module, conn):
        super().__init__(module)
        if self.params["flavor"]:
            # the flavor's VCPUs and memory, as if given as vcpus and memory_mb (exclusive with them)
            self.params.update(vcpus=self.params["flavor"]["vcpus"], memory_mb=self.params["flavor"]["memory_mb"])
        self.params.update(creation_source(self.params))
        self.conn = conn
        self.records = Records(conn)
        self.ref = None
        self.live = None      # facts (with refs) of the VM as it is, refreshed after create
        self.repair = None    # (before, plan) of a hard reboot, for its summary

    # -- reading ---------------------------------------------------------------------------

    def read(self):
        self.records.forget("VM", "VBD", "VDI", "VIF", "console")
        p = self.params
        ref = rec = None
        if self.ref is not None:
            try:
                ref, rec = self.ref, self.records.get("VM", self.ref)
            except XenAPIError as exc:
                if exc.code != "HANDLE_INVALID":
                    raise
                return None
        elif p["uuid"]:
            ref, rec = find_one_vm(self.records, uuid=p["uuid"])
        else:
            ref, rec = find_one_vm(self.records, name=p["name"])
            if ref is None and p["new_name"]:
                ref, rec = find_one_vm(self.records, name=p["new_name"])
        if ref is None:
            return None
        if rec.get("is_a_template") or rec.get("is_a_snapshot") or rec.get("is_control_domain"):
            kind = "snapshot" if rec.get("is_a_snapshot") else "template" if rec.get("is_a_template") \
                else "control domain"
            raise NovaopsError("%s is a %s, not a VM that xen_vm manages." % (rec["uuid"], kind))
        self.ref = ref
        self.live = vm_facts(self.records, ref, rec)
        return copy.deepcopy(self.live)

    def result(self, facts):
        out = dict(vm=public_facts(facts) if facts is not None else None)
        if self.repair is not None:
            before, plan = self.repair
            out["summary"] = repairs.summary("VM %s" % before["name"], repairs.findings(before["power_state"], plan.names),
                                             plan.names, self.module.check_mode)
        return out

    def operation_lock(self, before):
        p = self.params
        hard = p["state"] == "rebooted" and p["reboot"] == "hard"
        name = before["name"] if before else p["new_name"] or p["name"]
        return XenOperationLock(self.conn, "VM", self.ref if before else None, "VM %s" % name,
                                "xen_vm hard_reboot" if hard else "xen_vm %s" % p["state"], p, takeover=hard,
                                cleaners=STALE_CLEANERS, other_config=before["other_config"] if before else None)

    def lock_view(self, facts):
        return facts["other_config"] if facts else None

    def after_release(self, facts):
        final = self.lock.final_other_config
        if facts and final is not None:
            facts = dict(facts, other_config=dict(final), desired_state=final.get(DESIRED_KEY))
            self.live["other_config"] = dict(final)
        return facts

    def diff_view(self, facts):
        return _diff_view(public_facts(facts) if facts else None)

    # -- resolving the wanted settings (all checks before any change) ----------------------

    def _sr(self, ident):
        if ident:
            return self.records.resolve("SR", ident, "SR")
        return default_sr(self.records)

    def _vdi(self, ident, where):
        if UUID_RE.match(ident):
            found = self.records.where("VDI", "uuid", ident)
        else:
            found = dict((r, v) for r, v in self.records.where("VDI", "name_label", ident).items()
                         if not v.get("is_a_snapshot"))
        if len(found) > 1:
            raise NovaopsError("%s: %d VDIs are named %r (uuids %s); give the uuid."
                               % (where, len(found), ident, ", ".join(sorted(v["uuid"] for v in found.values()))))
        if not found:
            raise NovaopsError("%s: no VDI has the UUID or name %r." % (where, ident))
        return next(iter(found.items()))

    def disk_specs(self):
        """``[(where, spec)]``: the flavor's disks (Nova's layout), then the ones given in disks."""
        p = self.params
        specs = []
        if p["flavor"]:
            specs = flavor_disks(p["flavor"], p["new_name"] or p["name"] or p["uuid"], p["image_vdi"])
        # a disk without userdevice goes at its place in the list
        return specs + [("disks[%d]" % index, dict(spec, userdevice=str(index) if spec["userdevice"] is None
                                                   else spec["userdevice"]))
                        for index, spec in enumerate(p["disks"] or [])]

    def wanted_disks(self):
        wanted = []
        for where, spec in self.disk_specs():
            userdevice = spec["userdevice"]
            if not str(userdevice).isdigit():
                raise NovaopsError("%s: userdevice %r is not a number." % (where, userdevice))
            want = dict(userdevice=str(int(userdevice)), size=vp.disk_size(spec, where), bootable=spec["bootable"],
                        mode=spec["mode"], name=spec["name"], vdi_uuid=None, adopt=bool(spec["adopt"]))
            if spec["adopt"] and not spec["vdi"]:
                raise NovaopsError("%s: adopt takes over an existing VDI; give vdi." % where)
            if spec["vdi"] and spec["clone_of"]:
                raise NovaopsError("%s: give vdi (attach that VDI) or clone_of (a clone of it), not both." % where)
            if spec["clone_of"] == "" and self.module.check_mode:
                # check mode of an image boot whose image is not cached yet: the clone is predicted
                want.update(clone_ref=None, clone_uuid="(the image, once cached)", clone_size=0)
                self._with_sr(want, spec["sr"] or self.params["sr"])
            elif spec["clone_of"] == "":
                raise NovaopsError("%s is empty; give the UUID or name of the VDI to clone."
                                   % (where + ".clone_of" if where.startswith("disks") else where))
            elif spec["clone_of"]:
                self._with_clone(want, spec["clone_of"], where)
            elif spec["vdi"]:
                vdi_ref, vdi = self._vdi(spec["vdi"], where)
                want.update(vdi_uuid=vdi["uuid"], vdi_ref=vdi_ref, vdi_size=int(vdi["virtual_size"]),
                            vdi_name=vdi["name_label"], sr_ref=vdi["SR"])
            elif spec["sr"] or self.params["sr"]:
                self._with_sr(want, spec["sr"] or self.params["sr"])
            wanted.append(want)
        devices = [w["userdevice"] for w in wanted]
        if len(set(devices)) != len(devices):
            raise NovaopsError("disks: userdevice given twice, or given in disks and by the flavor (%s)."
                               % ", ".join(devices))
        return wanted

    def _with_clone(self, want, ident, where):
        src_ref, src = self._vdi(ident, where)
        want.update(clone_ref=src_ref, clone_uuid=src["uuid"], clone_size=int(src["virtual_size"]),
                    sr_ref=src["SR"], sr_uuid=self.records.get("SR", src["SR"])["uuid"],
                    sr_name=self.records.get("SR", src["SR"])["name_label"])
        if want["size"] and vp.round_vhd(want["size"]) < want["clone_size"]:
            # as Nova's FlavorDiskSmallerThanImage: a clone never shrinks
            raise NovaopsError("%s: VDI %s to clone is %d bytes, more than the %d bytes asked; give "
                               "a larger size (the flavor's root_gb) or none." % (
                                   where, src["uuid"], want["clone_size"], want["size"]))

    def _with_sr(self, want, ident):
        sr_ref, sr = self._sr(ident)
        want.update(sr_ref=sr_ref, sr_uuid=sr["uuid"], sr_name=sr["name_label"])

    def wanted_vifs(self):
        wanted = []
        for index, spec in enumerate(self.params["vifs"] or []):
            device = spec["device"] if spec["device"] is not None else str(index)
            if not str(device).isdigit():
                raise NovaopsError("vifs[%d]: device %r is not a number." % (index, device))
            vp.check_mac(spec["mac"], index)
            net_ref, net = self.records.resolve("network", spec["network"], "network")
            wanted.append(dict(device=str(int(device)), mac=spec["mac"], network_ref=net_ref,
                               network_uuid=net["uuid"], network_name=net["name_label"], mtu=int(net.get("MTU", 1500)),
                               bridge=net.get("bridge")))
        devices = [w["device"] for w in wanted]
        if len(set(devices)) != len(devices):
            raise NovaopsError("vifs: device given twice (%s)." % ", ".join(devices))
        return wanted

    # -- planning ---------------------------------------------------------------------------

    def plan(self, before, plan):
        p = self.params
        state = p["state"]
        if before is None and p["uuid"] and state != "absent":
            raise NovaopsError("No VM has UUID %s; a VM is created by name (with template), not by UUID." % p["uuid"])
        if state == "rebooted":
            self.refuse_during_resize(before)
            if p["reboot"] == "hard" and before is not None:
                # taken now: planning updates before in place to what the VM will be
                self.repair = (dict(name=before["name"], power_state=before["power_state"]), plan)
        if state == "absent":
            return self.plan_absent(before, plan)
        disks = self.wanted_disks()
        vifs = self.wanted_vifs()
        after = before
        if before is None:
            after = self.plan_create(plan)
        return self.plan_changes(after, plan, disks, vifs)

    def refuse_during_resize(self, before):
        """Nova allowed no reboot in RESIZED: the original waits halted (renamed <name><resize_orig_suffix>) and the
        resized copy runs; rebooting either would run one beside the other."""
        p = self.params
        vms = [before] if before is not None else [
            vm_facts(self.records, ref, rec)
            for ref, rec in find_vms(self.records, name=p["name"] + p["resize_orig_suffix"]).items()]
        refuse_during(vms, p["name"] or before["name"], "a %s reboot" % p["reboot"])

    def plan_absent(self, before, plan):
        if before is None:
            return None
        if before["power_state"] != "halted":
            plan.add("hard_shutdown", self.conn.call, "VM.hard_shutdown", self.ref)
        owned = [d for d in before["disks"] if d.get("owned") and d.get("_vdi_ref")]
        # the disks first (a halted VM's VBDs do not hold them; xapi drops those VBDs), as Nova did: a failed
        # VDI.destroy leaves the VM with its remaining disks for the next run, never a disk no VM names
        for disk in owned:
            plan.add("destroy_disk_%s" % disk["userdevice"], self.conn.call, "VDI.destroy", disk["_vdi_ref"],
                     detail=disk["vdi_uuid"])
        plan.add("destroy", self.conn.call, "VM.destroy", self.ref)
        return None

    def plan_create(self, plan):
        p = self.params
        if not p["template"] and p["state"] == "rebooted":
            raise NovaopsError("No VM is named %r; there is nothing to reboot (give template to create and start it). "
                               "%s Nothing was changed." % (p["name"], instance_name_hint("hard_reboot", "hard_reboot_name")))
        if not p["template"]:
            raise NovaopsError("No VM is named %r; give template to create it (for the boot role boot_template - the "
                               "inventory variable instance_template). Nothing was changed." % p["name"])
        template = self.find_template(p["template"])
        sr = self._sr(p["sr"]) if (p["sr"] or p["create_mode"] == "copy") else None
        tref, trec = template
        facts = vm_facts(self.records, tref, trec)
        for disk in facts["disks"]:
            disk.update(owned=True, vdi_uuid=None, _vbd_ref=None, _vdi_ref=None)
            if p["create_mode"] == "copy" and sr:
                disk.update(sr_uuid=sr[1]["uuid"], sr_name=sr[1]["name_label"])
        for spec in self.provision_spec(trec) if p["template_disks"] else []:
            disk_sr = sr or self._sr(spec.get("sr") or None)
            size = int(spec.get("size", "0"))
            facts["disks"].append(dict(
                userdevice=spec.get("device", "0"), type="Disk", bootable=spec.get("bootable") == "true", mode="RW",
                vdi_uuid=None, size=size, size_gb=round(size / float(vp.GIB), 3), sr_uuid=disk_sr[1]["uuid"],
                sr_name=disk_sr[1]["name_label"], owned=True, currently_attached=False))
        other = dict(facts["other_config"])
        other.pop("default_template", None)
        facts.update(uuid=None, name=p["new_name"] or p["name"], power_state="halted", is_a_template=False,
                     other_config=other, _ref=None)
        plan.add("create", self.create, tref, trec, sr, detail="%s of %s" % (p["create_mode"], trec["name_label"]))
        return facts

    def find_template(self, ident):
        if UUID_RE.match(ident):
            found = self.records.where("VM", "uuid", ident)
        else:
            found = self.records.where("VM", "name_label", ident)
        found = dict((r, v) for r, v in found.items() if v.get("is_a_template") and not v.get("is_a_snapshot"))
        if len(found) > 1:
            raise NovaopsError("%d templates are named %r (uuids %s); give the uuid."
                               % (len(found), ident, ", ".join(sorted(v["uuid"] for v in found.values()))))
        if not found:
            raise NovaopsError("No template has the UUID or name %r." % ident)
        return next(iter(found.items()))

    @staticmethod
    def provision_spec(trec):
        text = (trec.get("other_config") or {}).get("disks", "")
        if not text.strip():
            return []
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise NovaopsError("The template's other_config:disks is not valid XML: %s" % exc)
        return [dict(d.attrib) for d in root.findall("disk")]

    def plan_changes(self, after, plan, disks, vifs):
        p = self.params
        # settings that need the VM halted
        needs_off = []
        if p["vcpus"] is not None and (after["vcpus"] != p["vcpus"] or after["vcpus_max"] != p["vcpus"]):
            needs_off.append("vcpus %d -> %d" % (after["vcpus"], p["vcpus"]))
        limits = vp.memory_limits(after["memory"], p["memory_mb"]) if p["memory_mb"] is not None else None
        if limits:
            needs_off.append("memory %d MiB -> %d MiB" % (after["memory_mb"], p["memory_mb"]))
        disk_ops = vp.disk_changes(after["disks"], disks)
        for op, want, _cur in disk_ops:
            if op == "set_mode":
                needs_off.append("disk %s mode" % want["userdevice"])
        vif_ops = vp.vif_changes(after["vifs"], vifs)
        steps_off, steps_on, power = self.power_route(after, needs_off)

        # 1. unlock first, so that a start later in the plan is allowed
        if p["bootlock"] is False and "start" in after["blocked_operations"]:
            plan.add("bootlock_off", self._vm_call, "VM.remove_from_blocked_operations", "start")
            after["blocked_operations"].pop("start")
        for step in steps_off:
            plan.add(step, self.power, step)
        self.plan_names(plan, after)            # 2. name, description
        self.plan_sizing(plan, after, limits)   # 3. VCPUs and memory
        self.plan_maps(plan, after, disk_ops)   # 4. other_config (with the collection's markers), xenstore_data
        # 5. disks and VIFs
        running_after_off = power == "running"
        self.plan_disks(plan, after, disk_ops, running_after_off)
        self.plan_vifs(plan, after, vif_ops, running_after_off)
        # 6. power
        for step in steps_on:
            plan.add(step, self.power, step)
            power = vp.STEP_RESULT[step]
        after["power_state"] = power
        # 7. lock last (it blocks starts only)
        if p["bootlock"] and "start" not in after["blocked_operations"]:
            plan.add("bootlock_on", self.bootlock_on)
            after["blocked_operations"]["start"] = ""
        after["bootlocked"] = "start" in after["blocked_operations"]
        after["desired_state"] = after["other_config"].get(DESIRED_KEY)
        return after

    def power_route(self, after, needs_off):
        """(steps to halt, steps to the wanted state after the changes, the power state in between)."""
        p = self.params
        state = p["state"]
        current_power = after["power_state"]
        power = current_power
        steps_off = []
        if needs_off and current_power != "halted":
            if not p["force"]:
                raise NovaopsError("Changing %s needs the VM halted, and it is %s. Set force: true to shut it "
                                   "down (clean, then hard after timeout) and bring it back to state %s."
                                   % (", ".join(needs_off), current_power, state))
            steps_off = vp.off_steps(current_power)
            power = "halted"
        target = vp.restore_target(state, current_power) if steps_off else state
        steps_on = vp.power_steps(power, target, force=p["force"], reboot=p["reboot"])
        if state == "rebooted" and steps_off:
            steps_on = vp.power_steps("halted", "running")
        vp.check_bootlock(steps_on, after["blocked_operations"], p["bootlock"])
        return steps_off, steps_on, power

    def plan_names(self, plan, after):
        p = self.params
        # with uuid, name is the name the VM should have - but not for a reboot, an act on the VM as it is
        # (the hard_reboot role passes both: the instance's uuid where it is known, its name always)
        renames = p["uuid"] and p["state"] != "rebooted"
        wanted_name = p["new_name"] or (p["name"] if renames else None)
        if wanted_name is not None and wanted_name != after["name"] and after.get("_ref") is not None:
            plan.add("rename", self._vm_call, "VM.set_name_label", wanted_name, detail=wanted_name)
        if wanted_name is not None:
            after["name"] = wanted_name
        if p["description"] is not None and p["description"] != after["description"]:
            plan.add("set_description", self._vm_call, "VM.set_name_description", p["description"])
            after["description"] = p["description"]

    def plan_sizing(self, plan, after, limits):
        p = self.params
        if p["vcpus"] is not None and (after["vcpus"] != p["vcpus"] or after["vcpus_max"] != p["vcpus"]):
            plan.add("set_vcpus", self.set_vcpus, p["vcpus"], detail=str(p["vcpus"]))
            after.update(vcpus=p["vcpus"], vcpus_max=p["vcpus"])
        if limits:
            plan.add("set_memory", self._vm_call, "VM.set_memory_limits", *[str(v) for v in limits])
            after["memory"] = dict(static_min=limits[0], static_max=limits[1], dynamic_min=limits[2],
                                   dynamic_max=limits[3])
            after["memory_mb"] = p["memory_mb"]

    def plan_maps(self, plan, after, disk_ops):
        p = self.params
        wanted_other = dict(p["other_config"] or {})
        desired = {"rebooted": "running"}.get(p["state"], p["state"])
        if desired != "present":
            wanted_other[DESIRED_KEY] = desired
        # VDIs attached from elsewhere are listed (never destroyed), unless the VM adopts them
        attach = [want["vdi_uuid"] for op, want, _cur in disk_ops if op == "attach" and not want["adopt"]]
        adopted = set(want["vdi_uuid"] for op, want, _cur in disk_ops if op in ("attach", "adopt") and want["adopt"])
        known = attached_list(after["other_config"])
        listed = [u for u in known if u not in adopted] + [u for u in attach if u not in known]
        if listed != known:
            wanted_other[ATTACHED_KEY] = ",".join(listed)
        new_other = vp.merged(after["other_config"], wanted_other)
        if new_other is not None:
            plan.add("set_other_config", self.set_map, "other_config", wanted_other)
            after["other_config"] = new_other
        new_xs = vp.merged(after["xenstore_data"], p["xenstore_data"])
        if new_xs is not None:
            plan.add("set_xenstore_data", self.set_map, "xenstore_data", dict(p["xenstore_data"]))
            after["xenstore_data"] = new_xs

    def plan_disks(self, plan, after, disk_ops, running):
        by_device = dict((d["userdevice"], d) for d in after["disks"])
        for op, want, cur in disk_ops:
            dev = want["userdevice"]
            if op == "create":
                if "sr_ref" not in want:
                    self._with_sr(want, None)     # the pool's default SR, looked up only when needed
                plan.add("create_disk_%s" % dev, self.create_disk, want, running,
                         detail="%d bytes on %s" % (want["size"], want["sr_name"]))
                size = vp.round_vhd(want["size"])
                after["disks"].append(dict(userdevice=dev, type="Disk", bootable=bool(want["bootable"]),
                                           mode=want["mode"] or "RW", vdi_uuid=None, size=size,
                                           size_gb=round(size / float(vp.GIB), 3), sr_uuid=want["sr_uuid"],
                                           sr_name=want["sr_name"], owned=True, currently_attached=running))
            elif op == "clone":
                size = max(vp.round_vhd(want["size"]) if want.get("size") else 0, want["clone_size"])
                plan.add("clone_disk_%s" % dev, self.clone_disk, want, size, running,
                         detail="clone of %s, %d bytes" % (want["clone_uuid"], size))
                after["disks"].append(dict(userdevice=dev, type="Disk", bootable=bool(want["bootable"]),
                                           mode=want["mode"] or "RW", vdi_uuid=None, size=size,
                                           size_gb=round(size / float(vp.GIB), 3), sr_uuid=want["sr_uuid"],
                                           sr_name=want["sr_name"], owned=True, currently_attached=running))
            elif op == "attach":
                plan.add("attach_disk_%s" % dev, self.attach_disk, want, running, detail=want["vdi_uuid"])
                size = want["vdi_size"]
                after["disks"].append(dict(userdevice=dev, type="Disk", bootable=bool(want["bootable"]),
                                           mode=want["mode"] or "RW", vdi_uuid=want["vdi_uuid"],
                                           vdi_name=want["vdi_name"], size=size, size_gb=round(size / float(vp.GIB), 3),
                                           owned=want["adopt"], currently_attached=running))
            elif op == "adopt":
                plan.add("adopt_disk_%s" % dev, self.adopt_disk, want, detail=want["vdi_uuid"])
                by_device[dev]["owned"] = True
            elif op == "resize":
                plan.add("resize_disk_%s" % dev, self.resize_disk, dev, want["size"], running,
                         detail="%d -> %d bytes" % (cur["size"], want["size"]))
                by_device[dev].update(size=vp.round_vhd(want["size"]),
                                      size_gb=round(vp.round_vhd(want["size"]) / float(vp.GIB), 3))
            elif op == "set_bootable":
                plan.add("set_bootable_%s" % dev, self.vbd_call, dev, "VBD.set_bootable", bool(want["bootable"]))
                by_device[dev]["bootable"] = bool(want["bootable"])
            elif op == "set_mode":
                plan.add("set_mode_%s" % dev, self.vbd_call, dev, "VBD.set_mode", want["mode"])
                by_device[dev]["mode"] = want["mode"]
        after["disks"].sort(key=lambda d: int(d["userdevice"]) if str(d["userdevice"]).isdigit() else 999)

    def plan_vifs(self, plan, after, vif_ops, running):
        for op, want, cur in vif_ops:
            dev = want["device"]
            plan.add("%s_vif_%s" % (op, dev), self.put_vif, want, running, detail=want["network_name"])
            after["vifs"] = [v for v in after["vifs"] if v["device"] != dev]
            after["vifs"].append(dict(device=dev, mac=want["mac"] or (cur or {}).get("mac"), mtu=want["mtu"],
                                      network_uuid=want["network_uuid"], network_name=want["network_name"],
                                      bridge=want["bridge"], currently_attached=running))
        after["vifs"].sort(key=lambda v: int(v["device"]) if str(v["device"]).isdigit() else 999)

    # -- actions ------------------------------------------------------------------------------

    def _vm_call(self, method, *args):
        return self.conn.call(method, self.ref, *args)

    def refresh(self):
        """Re-read the live facts (refs of VBDs, VDIs, VIFs) after the VM's devices changed."""
        self.records.forget("VM", "VBD", "VDI", "VIF")
        self.live = vm_facts(self.records, self.ref, self.records.get("VM", self.ref))

    def create(self, tref, trec, sr):
        p = self.params
        name = p["new_name"] or p["name"]
        timeout = p["timeout"]
        if p["create_mode"] == "copy":
            ref = self.conn.run_async("VM.copy", tref, name, sr[0], timeout=timeout)
        else:
            ref = self.conn.run_async("VM.clone", tref, name, timeout=timeout)
        self.ref = ref
        self.lock.attach(ref, "VM %s" % name)      # the new VM is this run's from its first moment
        rec = self.conn.call("VM.get_record", ref)
        other = dict(rec.get("other_config") or {})
        if not p["template_disks"] and "disks" in other:
            other.pop("disks")      # VM.provision then makes no disks: they come from disks[]
            self.conn.call("VM.set_other_config", ref, other)
        elif sr and other.get("disks"):
            root = ET.fromstring(other["disks"])
            for disk in root.findall("disk"):
                disk.set("sr", sr[1]["uuid"])
            other["disks"] = ET.tostring(root, encoding="unicode")
            self.conn.call("VM.set_other_config", ref, other)
        if rec.get("is_a_template"):
            self.conn.run_async("VM.provision", ref, timeout=timeout)
        self.refresh()
        # the VM owns the disks it got from its template: mark them, so absent destroys them
        for disk in self.live["disks"]:
            if disk.get("_vdi_ref") and disk["type"] == "Disk":
                other = dict(disk.get("vdi_other_config") or {})
                if other.get(OWNER_KEY) != self.live["uuid"]:
                    other[OWNER_KEY] = self.live["uuid"]
                    self.conn.call("VDI.set_other_config", disk["_vdi_ref"], other)

    def set_vcpus(self, count):
        current = self.live["vcpus_max"]
        if count >= current:
            self._vm_call("VM.set_VCPUs_max", str(count))
            self._vm_call("VM.set_VCPUs_at_startup", str(count))
        else:
            self._vm_call("VM.set_VCPUs_at_startup", str(count))
            self._vm_call("VM.set_VCPUs_max", str(count))

    def set_map(self, field, wanted):
        current = self.conn.call("VM.get_%s" % field, self.ref) if self.live is None else self.live[field]
        value = vp.merged(current, wanted)
        if value is None:
            return
        # other_config written by the call that drops the operation lock's mark at the end: no call of its own
        if not (field == "other_config" and self.lock is not None and self.lock.ride(self.ref, wanted)):
            self._vm_call("VM.set_%s" % field, value)
        self.live[field] = value

    def bootlock_on(self):
        blocked = dict(self.live["blocked_operations"])
        blocked["start"] = ""
        self._vm_call("VM.set_blocked_operations", blocked)

    def _disk(self, userdevice):
        for disk in self.live["disks"]:
            if disk["userdevice"] == userdevice:
                return disk
        raise NovaopsError("The VM has no disk at userdevice %s any more." % userdevice)

    def vbd_call(self, userdevice, method, *args):
        self.conn.call(method, self._disk(userdevice)["_vbd_ref"], *args)

    def _new_vbd(self, vdi_ref, want, running):
        vbd = self.conn.call("VBD.create", dict(
            VM=self.ref, VDI=vdi_ref, userdevice=want["userdevice"], bootable=bool(want["bootable"]),
            mode=want["mode"] or "RW", type="Disk", empty=False, unpluggable=True, other_config={},
            qos_algorithm_type="", qos_algorithm_params={}))
        if running:
            self.conn.call("VBD.plug", vbd)
        return vbd

    def create_disk(self, want, running):
        name = want["name"] or "%s %s" % (self.live["name"] if self.live else self.params["name"], want["userdevice"])
        vdi = self.conn.call("VDI.create", dict(
            name_label=name, name_description="created by novaops.compute.xen_vm", SR=want["sr_ref"],
            virtual_size=str(want["size"]), type="user", sharable=False, read_only=False,
            other_config={OWNER_KEY: self.live["uuid"]}, xenstore_data={}, sm_config={}, tags=[]))
        try:
            self._new_vbd(vdi, want, running)
        except NovaopsError:
            self.conn.call("VDI.destroy", vdi)   # leave no orphan behind
            raise

    def clone_disk(self, want, size, running):
        """The disk as a copy-on-write clone of another VDI (a cached image), the VM's own, grown to size."""
        vdi = self.conn.run_async("VDI.clone", want["clone_ref"], {}, timeout=self.params["timeout"])
        try:
            name = want["name"] or "%s %s" % (self.live["name"] if self.live else self.params["name"],
                                              want["userdevice"])
            self.conn.call("VDI.set_name_label", vdi, name)
            self.conn.call("VDI.set_name_description", vdi, "clone of %s by novaops.compute.xen_vm" % want["clone_uuid"])
            other = dict(self.conn.call("VDI.get_other_config", vdi) or {})
            for key in [k for k in other if k.startswith("novaops_image_")]:
                other.pop(key)          # the clone is an instance's disk, not another cached image
            other[OWNER_KEY] = self.live["uuid"]
            self.conn.call("VDI.set_other_config", vdi, other)
            if size > want["clone_size"]:
                self.conn.run_async("VDI.resize", vdi, str(size), timeout=self.params["timeout"])
            self._new_vbd(vdi, want, running)
        except NovaopsError:
            self.conn.call("VDI.destroy", vdi)   # leave no orphan behind
            raise

    def attach_disk(self, want, running):
        self._new_vbd(want["vdi_ref"], want, running)
        if want["adopt"]:
            self.adopt_disk(want)

    def adopt_disk(self, want):
        other = dict(self.conn.call("VDI.get_other_config", want["vdi_ref"]) or {})
        other[OWNER_KEY] = self.live["uuid"]
        self.conn.call("VDI.set_other_config", want["vdi_ref"], other)

    def resize_disk(self, userdevice, size, running):
        disk = self._disk(userdevice)
        method = "VDI.resize_online" if running and disk["currently_attached"] else "VDI.resize"
        self.conn.run_async(method, disk["_vdi_ref"], str(size), timeout=self.params["timeout"])

    def put_vif(self, want, running):
        for vif in self.live["vifs"]:
            if vif["device"] == want["device"]:
                if vif["currently_attached"] and running:
                    self.conn.call("VIF.unplug", vif["_vif_ref"])
                self.conn.call("VIF.destroy", vif["_vif_ref"])
        ref = self.conn.call("VIF.create", dict(
            device=want["device"], network=want["network_ref"], VM=self.ref, MAC=want["mac"] or "",
            MTU=str(want["mtu"]), other_config={}, qos_algorithm_type="", qos_algorithm_params={}))
        if running:
            self.conn.call("VIF.plug", ref)

    def power(self, step):
        timeout = self.params["timeout"]
        ref = self.ref
        if step in ("start", "start_paused"):
            self.conn.run_async("VM.start", ref, step == "start_paused", False, timeout=timeout)
        elif step in ("resume", "resume_paused"):
            self.conn.run_async("VM.resume", ref, step == "resume_paused", False, timeout=timeout)
        elif step in ("pause", "unpause", "hard_shutdown", "hard_reboot"):
            self.conn.call("VM.%s" % step, ref)
        elif step == "suspend":
            self.conn.run_async("VM.suspend", ref, timeout=timeout)
        elif step == "clean_reboot":
            self.clean("VM.clean_reboot", "VM.hard_reboot", True)
        elif step == "clean_shutdown":
            self.clean("VM.clean_shutdown", "VM.hard_shutdown", self.params["force"])
        elif step == "shutdown":
            self.clean("VM.clean_shutdown", "VM.hard_shutdown", True)
        else:
            raise NovaopsError("Unknown power step %s." % step)

    def clean(self, method, hard, fallback):
        """A clean shutdown/reboot; after the timeout (or a guest that cannot), the hard one if allowed."""
        timeout = self.params["timeout"]
        try:
            self.conn.run_async(method, self.ref, timeout=timeout)
            return
        except WaitTimeout as exc:
            reason = exc
        except XenAPIError as exc:
            if exc.code not in CLEAN_FALLBACK_CODES:
                raise
            reason = exc
        if not fallback:
            raise NovaopsError("%s did not complete (%s); set force: true to fall back to %s after the timeout."
                               % (method, reason, hard), **reason.facts)
        self.conn.call(hard, self.ref)

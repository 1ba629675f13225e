# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Live migration of a running VM (the manager of the xen_migrate module), as Nova's XenAPI driver did it.

Within a pool: ``VM.pool_migrate(vm, host, {"live": "true"})``, the disks stay on the shared SR.
Across pools (storage motion): ``host.migrate_receive`` on the destination, then
``VM.assert_can_migrate`` and ``Async.VM.migrate_send`` with a VDI map naming every disk of the VM
and of its snapshots (all to one destination SR) and a VIF map (all to one destination network).
Every refusal the module can see for itself comes first and names the option behind it; then
``assert_can_migrate`` lets xapi refuse before anything moves.  xapi keeps the VM on the source
whatever fails during the move, so there is nothing to undo here.
The VM carries the operation lock (its ``other_config`` mark) while it moves: a migration refuses a VM
another operation holds, and a resize or snapshot refuses one that is moving.  Across pools the mark
goes with the VM (migrate_send copies ``other_config``) and is removed there.
"""

from __future__ import annotations

import time

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common import destination_choice
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.operation_lock import XenOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import NULL_REF, xenapi_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_migration import destination_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_facts import Records, find_one_vm
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE

MiB = 1024 * 1024


def argument_spec():
    return xenapi_argument_spec().merge(ArgumentSpec(dict(
        vm=dict(type="str", required=True),
        host=dict(type="str"),
        leave_host=dict(type="str"),
        sr=dict(type="str"),
        network=dict(type="str"),
        timeout=dict(type="float", default=1800),
    ), mutually_exclusive=[("host", "leave_host")], input_rules=dict(
        timeout=rules.SECONDS_AT_LEAST_ONE, vm=rules.NAME_OR_UUID, host=rules.NAME_OR_UUID,
        leave_host=rules.NAME_OR_UUID, sr=rules.NAME_OR_UUID, network=rules.NAME_OR_UUID,
    ))).merge(destination_argument_spec()).merge(lock_argument_spec())


def resolve(records, cls, ident, option):
    """(ref, record) of the object an option names, or a refusal naming that option."""
    try:
        return records.resolve(cls, ident)
    except NovaopsError as exc:
        raise NovaopsError("%s: %s" % (option, exc.msg))


class VMMigration:
    def __init__(self, module, src, dst):
        self.module = module
        self.params = module.params
        self.src, self.dst = src, dst
        self.cross_pool = dst is not src
        self.src_records = Records(src)
        self.dst_records = Records(dst) if self.cross_pool else self.src_records
        self.started = time.monotonic()
        self.progress = []
        self.lock_report = None
        self.weighed = None         # the candidates weighed, when the module chose the host
        self.chosen = None

    # ---------------------------------------------------------------- facts
    def _find_vm(self, records):
        ident = self.params["vm"]
        if UUID_RE.match(ident):
            return find_one_vm(records, uuid=ident)
        return find_one_vm(records, name=ident)

    def _host(self, records, ref):
        rec = records.get("host", ref)
        return {"uuid": rec["uuid"], "name_label": rec["name_label"]}

    def _disks(self, conn, records, vm_ref):
        """[{userdevice, vdi, sr}] of the VM's disks, in device order."""
        disks = []
        for vbd in records.get("VM", vm_ref)["VBDs"]:
            b = conn.call("VBD.get_record", vbd)
            if b["type"] != "Disk" or b["empty"] or b["VDI"] == NULL_REF:
                continue
            vdi = conn.call("VDI.get_record", b["VDI"])
            disks.append({"userdevice": b["userdevice"], "vdi": vdi["uuid"],
                          "sr": conn.call("SR.get_uuid", vdi["SR"])})
        return sorted(disks, key=lambda d: d["userdevice"])

    def _dest_host(self):
        """The destination host: option host, else (across pools) the destination pool's master."""
        if self.params["host"]:
            return resolve(self.dst_records, "host", self.params["host"], "host")
        if not self.cross_pool:
            raise NovaopsError("host: name the host to move the VM to, or set leave_host to let the module choose "
                               "(a migration inside the pool needs one of them).")
        pool = next(iter(self.dst_records.all("pool").values()))
        return pool["master"], self.dst_records.get("host", pool["master"])

    # ---------------------------------------------------------------- checks
    def _check_options(self):
        """Options that mean nothing for this kind of move are refused, not ignored; named objects must exist."""
        if self.cross_pool and self.params["leave_host"] is not None:
            raise NovaopsError("leave_host: the module chooses among the hosts of the VM's own pool only; across "
                               "pools name the destination host (host) or leave it to the destination's master.")
        if not self.cross_pool:
            for option in ("sr", "network"):
                if self.params[option] is not None:
                    raise NovaopsError("%s: applies to a migration to another pool (dest_url) only; within the pool "
                                       "the disks stay on the shared SR and the VIFs on their networks." % option)
            for option in ("dest_username", "dest_password", "dest_validate_certs", "dest_ca_path"):
                if self.params[option] is not None:
                    raise NovaopsError("%s: given without dest_url; set dest_url for a migration to another pool."
                                       % option)
            return
        if self.params["sr"]:
            resolve(self.dst_records, "SR", self.params["sr"], "sr")
        if self.params["network"]:
            resolve(self.dst_records, "network", self.params["network"], "network")

    def _same_pool(self):
        src_pool = next(iter(self.src_records.all("pool").values()))["uuid"]
        dst_pool = next(iter(self.dst_records.all("pool").values()))["uuid"]
        if src_pool == dst_pool:
            raise NovaopsError("dest_url: it reaches the VM's own pool (%s); leave dest_url unset and name the host "
                               "for a migration inside the pool." % src_pool)

    def _check_running(self, vm):
        if vm["power_state"] != "Running":
            raise NovaopsError("vm: %s is %s; a live migration moves a running VM only (start it, or use a cold "
                               "move such as vhd_migrate)." % (self.params["vm"], vm["power_state"].lower()))

    def _check_memory(self, vm, host):
        free = int(self.dst.call("host_metrics.get_memory_free", host["metrics"]))
        need = int(vm["memory_static_max"])
        if need > free:
            raise NovaopsError("host: %s has %d MiB of memory free; the VM needs %d MiB."
                               % (host["name_label"], free // MiB, need // MiB),
                               host_memory_free=free, vm_memory=need)

    def _maps(self, vm_ref, vm):
        """(vdi_map, vif_map) for migrate_send: every disk and VIF of the VM and of its snapshots."""
        sr_ref = self._dest_sr()
        vms = [vm_ref] + list(vm["snapshots"])
        vdi_map, vif_map, source_nets = {}, {}, {}
        for ref in vms:
            rec = self.src.call("VM.get_record", ref)
            for vbd in rec["VBDs"]:
                b = self.src.call("VBD.get_record", vbd)
                if b["type"] == "Disk" and not b["empty"] and b["VDI"] != NULL_REF:
                    vdi_map[b["VDI"]] = sr_ref
            for vif in rec["VIFs"]:
                source_nets[vif] = self.src.call("VIF.get_network", vif)
        for vif, net in source_nets.items():
            vif_map[vif] = self._dest_network(net)
        return vdi_map, vif_map

    def _dest_sr(self):
        if self.params["sr"]:
            return resolve(self.dst_records, "SR", self.params["sr"], "sr")[0]
        pool = next(iter(self.dst_records.all("pool").values()))
        if pool["default_SR"] == NULL_REF:
            raise NovaopsError("sr: the destination pool has no default SR; name one.")
        return pool["default_SR"]

    def _dest_network(self, source_net):
        """Option network, else the destination network named as the VIF's network is on the source."""
        if self.params["network"]:
            return resolve(self.dst_records, "network", self.params["network"], "network")[0]
        name = self.src.call("network.get_name_label", source_net)
        found = [ref for ref, rec in self.dst_records.all("network").items() if rec["name_label"] == name]
        if len(found) != 1:
            raise NovaopsError("network: the destination has %s network named %r (the VIF's network here); name "
                               "the destination network." % ("no" if not found else "more than one", name))
        return found[0]

    # ---------------------------------------------------------------- the choice
    def _candidate_check(self, vm_ref, vm):
        """The pre-checks of one host of the pool for this VM: its free memory, or the refusal."""
        srs = set(self.src.call("VDI.get_SR", self.src.call("VDI.get_by_uuid", d["vdi"]))
                  for d in self._disks(self.src, self.src_records, vm_ref))
        hosts = dict((rec["name_label"], (ref, rec)) for ref, rec in self.src_records.all("host").items())
        attached = set((rec["host"], rec["SR"]) for rec in self.src_records.all("PBD").values()
                       if rec["currently_attached"])

        def check(name):
            ref, rec = hosts[name]
            if not rec["enabled"]:
                raise NovaopsError("the host is disabled (HOST_DISABLED)")
            for sr in sorted(srs):
                if (ref, sr) not in attached:
                    raise NovaopsError("the VM's SR %s is not attached there (VM_REQUIRES_SR)"
                                       % self.src_records.get("SR", sr)["uuid"])
            free = int(self.src.call("host_metrics.get_memory_free", rec["metrics"]))
            need = int(vm["memory_static_max"])
            if need > free:
                raise NovaopsError("%d MiB of memory free, the VM needs %d MiB" % (free // MiB, need // MiB))
            return free
        return hosts, check

    def _choose(self):
        """(host_ref, host, vm_ref, vm) of the move off leave_host to the best other host of the pool, or
        (None, None, vm_ref, vm) when the VM runs elsewhere already."""
        leave_ref, _leave = resolve(self.src_records, "host", self.params["leave_host"], "leave_host")
        vm_ref, vm = self._find_vm(self.src_records)
        if vm_ref is None:
            raise NovaopsError("vm: no VM %r in the pool." % self.params["vm"])
        self._check_running(vm)
        if vm["resident_on"] != leave_ref:
            return None, None, vm_ref, vm
        hosts, check = self._candidate_check(vm_ref, vm)
        names = sorted(name for name, (ref, _rec) in hosts.items() if ref != leave_ref)
        self.weighed = destination_choice.weigh(names, check)
        best = destination_choice.choose(self.weighed, "VM %s" % vm["name_label"])
        self.chosen = destination_choice.chosen_because(best, self.weighed)
        return hosts[best["dest"]][0], hosts[best["dest"]][1], vm_ref, vm

    # ---------------------------------------------------------------- the move
    def _follow(self, task, what):
        """Wait for the task on event.from, keeping the progress it reports."""
        def done(rec):
            value = round(float(rec.get("progress") or 0), 2)
            if not self.progress or self.progress[-1] != value:
                self.progress.append(value)
            return rec.get("status") != "pending"
        conn = self.src
        conn.wait_for("task", task, done, self.params["timeout"], what)
        return conn.wait_for_task(task, 1, what)

    def _migrate(self, vm_ref, vm, host_ref):
        if not self.cross_pool:
            task = self.src.call("Async.VM.pool_migrate", vm_ref, host_ref, {"live": "true"})
            self._follow(task, "VM.pool_migrate to finish")
            return vm_ref
        vdi_map, vif_map = self._maps(vm_ref, vm)
        network = next(iter(vif_map.values()), None) or self._management_network(host_ref)
        dest = self.dst.call("host.migrate_receive", host_ref, network, {})
        self.src.call("VM.assert_can_migrate", vm_ref, dest, True, vdi_map, vif_map, {})
        if self.module.check_mode:
            return None
        task = self.src.call("Async.VM.migrate_send", vm_ref, dest, True, vdi_map, vif_map, {})
        return self._follow(task, "VM.migrate_send to finish")

    def _management_network(self, host_ref):
        for ref, rec in self.dst_records.all("PIF").items():
            if rec["host"] == host_ref and rec["management"]:
                return rec["network"]
        raise NovaopsError("host: it has no management interface to receive the VM on.")

    # ---------------------------------------------------------------- converge
    def _already_there(self, host_ref):
        """The VM's facts when it already runs on the destination host (a second run), else None."""
        ref, vm = self._find_vm(self.dst_records)
        if ref is None or vm["resident_on"] != host_ref or vm["power_state"] != "Running":
            return None
        return ref, vm

    def converge(self):
        self._check_options()
        if self.params["leave_host"] is not None:
            host_ref, host, vm_ref, vm = self._choose()
            if host_ref is None:            # it left that host already (a second run)
                disks = self._disks(self.src, self.src_records, vm_ref)
                return self._result(False, [], vm, self._host(self.src_records, vm["resident_on"]), disks, disks)
            return self._move(vm_ref, vm, host_ref, host)
        host_ref, host = self._dest_host()
        there = self._already_there(host_ref)
        if there is not None:
            ref, vm = there
            disks = self._disks(self.dst, self.dst_records, ref)
            return self._result(False, [], vm, self._host(self.dst_records, host_ref), disks, disks)
        if self.cross_pool:
            self._same_pool()
        vm_ref, vm = self._find_vm(self.src_records)
        if vm_ref is None:
            raise NovaopsError("vm: no VM %r in the source pool (nor running on %s)." % (
                self.params["vm"], host["name_label"]))
        return self._move(vm_ref, vm, host_ref, host)

    def _move(self, vm_ref, vm, host_ref, host):
        self._check_running(vm)
        self._check_memory(vm, host)
        before_host = self._host(self.src_records, vm["resident_on"])
        disks_before = self._disks(self.src, self.src_records, vm_ref)
        lock = XenOperationLock(self.src, "VM", vm_ref, "VM %s" % vm["name_label"], "xen_migrate", self.params,
                                other_config=vm["other_config"])
        actions = lock.admit(True) + ["migrate_send to %s" % host["name_label"] if self.cross_pool
                                      else "pool_migrate to %s" % host["name_label"]]
        if self.module.check_mode:
            if self.cross_pool:
                self._migrate(vm_ref, vm, host_ref)         # the destination's and xapi's checks, nothing moves
            return self._result(True, actions, vm, before_host, disks_before, disks_before,
                                after_host=self._host(self.dst_records, host_ref))
        with lock.held():
            new_ref = self._migrate(vm_ref, vm, host_ref)
            lock.conn, lock.ref = self.dst, new_ref         # across pools the mark went with the VM
        if lock.report:
            self.lock_report = lock.report
        self.dst_records = Records(self.dst)
        vm_after = self.dst.call("VM.get_record", new_ref)
        disks_after = self._disks(self.dst, self.dst_records, new_ref)
        return self._result(True, actions, vm_after, before_host, disks_before, disks_after,
                            after_host=self._host(self.dst_records, vm_after["resident_on"]))

    def _result(self, changed, actions, vm, before_host, disks_before, disks_after, after_host=None):
        after_host = after_host or before_host
        extra = dict(operation_lock=self.lock_report) if self.lock_report else {}
        if self.weighed is not None:
            extra.update(candidates=self.weighed, chosen=self.chosen)
        return dict(
            extra, changed=changed, actions=actions, mode="migrate_send" if self.cross_pool else "pool_migrate",
            vm={"uuid": vm["uuid"], "name_label": vm["name_label"], "power_state": vm["power_state"]},
            host_before=before_host, host_after=after_host, vdis_before=disks_before, vdis_after=disks_after,
            progress=self.progress, duration=round(time.monotonic() - self.started, 3),
            diff={"before": {"host": before_host["name_label"], "vdis": [d["vdi"] for d in disks_before]},
                  "after": {"host": after_host["name_label"], "vdis": [d["vdi"] for d in disks_after]}})

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A VDI's VHD chain moved to another SR or pool by the dom0 migration plugin (the manager of
the vhd_migrate module).

xen_resize runs it as a step of its own (manager_step.py).
"""

from __future__ import annotations

import json
import os
import time
import uuid as uuidlib

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import lock_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.common.confined import open_plain_file
from ansible_collections.novaops.compute.plugins.module_utils.common.ssh_host import ssh_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_chain import (
    chain_bytes, chain_uuids, default_sr, sr_location, vdi_chain)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import MIGRATED_CHAIN, MIGRATED_FROM, MIGRATED_INSTANCE
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.operation_lock import XenOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.resize_leftovers import STALE_CLEANERS
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_facts import Records
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import (
    NULL_REF, XenAPIConnection, XenAPIError, xenapi_argument_spec)
from ansible_collections.novaops.compute.plugins.module_utils.common.file_rule import PLAIN_FILE
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules

PLUGIN = "migration"
OC_FROM, OC_CHAIN, OC_INSTANCE = MIGRATED_FROM, MIGRATED_CHAIN, MIGRATED_INSTANCE


def argument_spec():
    spec = xenapi_argument_spec().merge(ssh_argument_spec()).merge(lock_argument_spec())
    spec.argument_spec["ssh_host"]["required"] = True       # the destination is always another dom0
    return spec.merge(ArgumentSpec(dict(
        vdi_uuid=dict(type="str"),
        vm_uuid=dict(type="str"),
        vm_name=dict(type="str"),
        shutdown=dict(type="bool", default=False),
        shutdown_timeout=dict(type="int", default=300),
        timeout=dict(type="int", default=3600),
        instance_uuid=dict(type="str"),
        dest_sr_uuid=dict(type="str"),
        staging_root=dict(type="str"),
        bwlimit=dict(type="int", default=0),
    ), mutually_exclusive=[["vdi_uuid", "vm_uuid", "vm_name"]], required_one_of=[["vdi_uuid", "vm_uuid", "vm_name"]],
        input_rules={"shutdown_timeout": rules.SECONDS, "timeout": rules.SECONDS, "bwlimit": rules.AMOUNT})
    ).merge(destination_argument_spec())


def destination_argument_spec():
    """The destination pool's connection; every option left unset is the source's (the same pool)."""
    return ArgumentSpec(dict(
        dest_url=dict(type="str"),
        dest_username=dict(type="str"),
        dest_password=dict(type="str", no_log=True),
        dest_validate_certs=dict(type="bool"),
        dest_ca_path=dict(type="path"),
    ), input_rules={"dest_validate_certs": rules.TlsSwitch(("dest_url",), inherits="validate_certs"),
                    "dest_ca_path": PLAIN_FILE})


def destination_connection(params):
    """A XenAPIConnection (not yet logged in) to the destination pool, or None for the source's own."""
    p = params
    if not p["dest_url"]:
        return None
    return XenAPIConnection(
        p["dest_url"], p["dest_username"] or p["username"],
        p["dest_password"] if p["dest_password"] is not None else p["password"],
        p["validate_certs"] if p["dest_validate_certs"] is None else p["dest_validate_certs"],
        p["dest_ca_path"] or p["ca_path"])


def converge_between_pools(module, manager_class):
    """``manager_class(module, src, dst).converge()`` with sessions to the source pool and the destination's
    (the source's own when no dest_url is given), logged out again whatever happens."""
    with XenAPIConnection.from_params(module.params) as src:
        dest = destination_connection(module.params)
        if dest is None:
            return manager_class(module, src, src).converge()
        with dest as dst:
            return manager_class(module, src, dst).converge()


def _read_file(path, what):
    """The text of a file an option names, read without following a link (confined.py)."""
    if not os.path.lexists(path):
        raise NovaopsError("Cannot read the %s %s: it does not exist." % (what, path))
    try:
        with os.fdopen(open_plain_file(path, what), "r") as fh:
            return fh.read()
    except OSError as exc:
        raise NovaopsError("Cannot read the %s %s: %s" % (what, path, exc.strerror))


def ssh_material(params):
    """(private key, known_hosts lines) the source dom0 gets for the transfer, from the options or their files."""
    p = params
    key = p["ssh_private_key"] or (_read_file(p["ssh_private_key_file"], "ssh private key")
                                   if p["ssh_private_key_file"] else None)
    known_hosts = p["ssh_known_hosts"] or (_read_file(p["ssh_known_hosts_file"], "known_hosts file")
                                           if p["ssh_known_hosts_file"] else None)
    return key, known_hosts


class Migration(Manager):

    def __init__(self, module, src, dst):
        super().__init__(module)
        self.src = src
        self.dst = dst
        self.moved = {}
        self.unscanned = []     # chains (VDI uuids) moved into the destination SR, not scanned yet
        self.sent = 0
        self.cleanup = []

    # -- reading -----------------------------------------------------------------------------

    def _source_disks(self):
        p = self.params
        if p["vdi_uuid"]:
            ref, rec = self.src.find("VDI", uuid=p["vdi_uuid"])
            vms = []
            for vbd in rec.get("VBDs", []):
                vbd_rec = self.src.call("VBD.get_record", vbd)
                if vbd_rec.get("currently_attached"):
                    vms.append(vbd_rec["VM"])
            return None, [dict(ref=ref, rec=rec, userdevice="0", running_vms=vms)]
        vm_ref, vm = self.src.find("VM", uuid=p["vm_uuid"], name=p["vm_name"],
                                   where=lambda r: not r["is_a_template"] and not r["is_control_domain"])
        disks = []
        for vbd in vm["VBDs"]:
            vbd_rec = self.src.call("VBD.get_record", vbd)
            if vbd_rec["type"] != "Disk" or vbd_rec["VDI"] == NULL_REF:
                continue
            running = [vm_ref] if vm["power_state"] != "Halted" else []
            disks.append(dict(ref=vbd_rec["VDI"], rec=self.src.call("VDI.get_record", vbd_rec["VDI"]),
                              userdevice=vbd_rec["userdevice"], running_vms=running))
        if not disks:
            raise NovaopsError("VM %s has no disks to move." % vm["name_label"])
        disks.sort(key=lambda d: int(d["userdevice"]) if d["userdevice"].isdigit() else 99)
        return (vm_ref, vm), disks

    def read(self):
        p = self.params
        self.vm, disks = self._source_disks()
        self.instance = p["instance_uuid"] or (self.vm[1]["uuid"] if self.vm else disks[0]["rec"]["uuid"])
        if not UUID_RE.match(self.instance):
            raise NovaopsError("instance_uuid %r is not a UUID." % self.instance)
        self.instance = self.instance.lower()
        if p["dest_sr_uuid"]:
            self.dest_sr, self.dest_sr_rec = self.dst.find("SR", uuid=p["dest_sr_uuid"])
        else:
            self.dest_sr, self.dest_sr_rec = default_sr(Records(self.dst), "dest_sr_uuid")
        self.dest_path, self.dest_host = sr_location(self.dst, self.dest_sr)
        self.src_paths = {}
        imported = {}
        for vdi_ref, rec in self.dst.call("VDI.get_all_records").items():
            if rec["SR"] == self.dest_sr and rec["other_config"].get(OC_FROM):
                imported[(rec["other_config"][OC_FROM], rec["other_config"].get(OC_CHAIN))] = (vdi_ref, rec)
        done = {d["source_vdi"]: d for d in getattr(self, "disks", [])}   # this run's, when re-read
        self.disks = []
        for disk in disks:
            chain = vdi_chain(self.src, disk["ref"], disk["rec"])
            uuids = chain_uuids(chain)
            found = imported.get((uuids[0], ",".join(uuids)))
            entry = dict(source_vdi=uuids[0], source_chain=uuids, userdevice=disk["userdevice"],
                         vdi=None, chain=[], bytes=0, imported=False)
            if uuids[0] in done:
                entry["bytes"] = done[uuids[0]]["bytes"]
                entry["imported"] = done[uuids[0]]["imported"]
            if found:
                entry["vdi"] = found[1]["uuid"]
                entry["chain"] = chain_uuids(vdi_chain(self.dst, found[0], found[1]))
            entry["_chain"] = chain
            entry["_running"] = disk["running_vms"]
            entry["_sr"] = disk["rec"]["SR"]
            self.disks.append(entry)
        return dict(disks=[self._public(d) for d in self.disks])

    @staticmethod
    def _public(disk):
        return {k: v for k, v in disk.items() if not k.startswith("_")}

    def operation_lock(self, before):
        """The source VM's mark (or the source VDI's, when a lone VDI moves)."""
        if self.vm:
            return XenOperationLock(self.src, "VM", self.vm[0], "VM %s" % self.vm[1]["name_label"], "vhd_migrate",
                                    self.params, cleaners=STALE_CLEANERS)
        ref, rec = self.disks[0]["_chain"][0]
        return XenOperationLock(self.src, "VDI", ref, "VDI %s" % rec["uuid"], "vhd_migrate", self.params,
                                cleaners=STALE_CLEANERS)

    # -- planning ----------------------------------------------------------------------------

    def plan(self, before, plan):
        todo = [d for d in self.disks if d["vdi"] is None]
        if not todo:
            return before
        p = self.params
        running = sorted({vm for d in todo for vm in d["_running"]})
        if running and not p["shutdown"]:
            names = ", ".join(self.src.call("VM.get_name_label", vm) for vm in running)
            raise NovaopsError("The disks are in use by the running VM %s; set shutdown: true to send the "
                               "parents now and the leaf after a shutdown, or shut it down first." % names)
        need = sum(chain_bytes(d["_chain"]) for d in todo)
        free = int(self.dest_sr_rec["physical_size"]) - int(self.dst.call("SR.get_physical_utilisation",
                                                                          self.dest_sr))
        if need > free:
            raise NovaopsError("The destination SR %s has %d bytes free, the chains need %d: free space "
                               "there first; nothing was sent." % (self.dest_sr_rec["uuid"], free, need),
                               xenapi_error=dict(code="SR_BACKEND_FAILURE_44", params=[], method=None))
        self.planned_bytes = need
        for d in todo:
            plan.add("clear_staging:%s" % d["userdevice"], self._remove_staging, d)
        for d in todo:
            if len(d["_chain"]) > 1:
                plan.add("transfer_parents:%s" % d["source_vdi"], self._transfer, d, 1)
        if running:
            for vm in running:
                plan.add("shutdown:%s" % self.src.call("VM.get_uuid", vm), self._shutdown, vm)
        for d in todo:
            plan.add("transfer_leaf:%s" % d["source_vdi"], self._transfer, d, 0)
        for d in todo:
            plan.add("import:%s" % d["source_vdi"], self._import, d)
        plan.add("scan", self._scan, todo)
        after = dict(disks=[])
        for d in self.disks:
            view = self._public(d)
            if d in todo:
                view.update(imported=True, bytes=chain_bytes(d["_chain"]))
            after["disks"].append(view)
        return after

    # -- actions -----------------------------------------------------------------------------

    def _plugin(self, conn, host, fn, args, what):
        try:
            out = conn.run_async("host.call_plugin", host, PLUGIN, fn, args, timeout=self.params["timeout"])
        except XenAPIError as exc:
            raise NovaopsError("%s failed: %s" % (what, exc.msg), xenapi_error=exc.facts["xenapi_error"])
        return json.loads(out)

    def _staging_args(self, d):
        args = dict(sr_path=self.dest_path, instance_uuid=self.instance, disk=str(d["userdevice"]))
        if self.params["staging_root"]:
            args["staging_root"] = self.params["staging_root"]
        return args

    def _remove_staging(self, d):
        self.cleanup.append(d)
        self._plugin(self.dst, self.dest_host, "remove_staging", self._staging_args(d),
                     "Clearing the destination staging directory")

    def _source_location(self, d):
        if d["_sr"] not in self.src_paths:
            self.src_paths[d["_sr"]] = sr_location(self.src, d["_sr"])
        return self.src_paths[d["_sr"]]

    def _transfer(self, d, seq):
        p = self.params
        path, host = self._source_location(d)
        uuids = chain_uuids(d["_chain"])
        uuids = uuids[1:] if seq == 1 else uuids[:1]
        args = dict(sr_path=path, vdi_uuids=json.dumps(uuids), seq_num=str(seq), instance_uuid=self.instance,
                    disk=str(d["userdevice"]), host=p["ssh_host"], port=str(p["ssh_port"]), user=p["ssh_user"],
                    dest_root=p["staging_root"] or os.path.join(self.dest_path, ".novaops-staging"))
        if self.key:
            args["ssh_private_key"] = self.key
        if p["insecure_ignore_host_key"]:
            args["insecure_ignore_host_key"] = "true"
        elif self.known_hosts:
            args["ssh_known_hosts"] = self.known_hosts
        if p["bwlimit"]:
            args["bwlimit"] = str(p["bwlimit"])
        args["connect_timeout"] = str(p["ssh_connect_timeout"])
        out = self._plugin(self.src, host, "transfer_vhd", args,
                           "Sending %s of VDI %s" % ("the parents" if seq else "the leaf", d["source_vdi"]))
        d["bytes"] += int(out["bytes"])
        self.sent += int(out["bytes"])

    def _shutdown(self, vm):
        if self.src.call("VM.get_power_state", vm) == "Halted":
            return
        try:
            self.src.run_async("VM.clean_shutdown", vm, timeout=self.params["shutdown_timeout"])
        except NovaopsError:
            self.src.run_async("VM.hard_shutdown", vm, timeout=self.params["shutdown_timeout"])

    def _import(self, d):
        uuid_stack = [str(uuidlib.uuid4()) for dummy in d["_chain"]]
        args = self._staging_args(d)
        args["uuid_stack"] = json.dumps(uuid_stack)
        out = self._plugin(self.dst, self.dest_host, "move_vhds_into_sr", args,
                           "Importing the chain of VDI %s" % d["source_vdi"])
        self.moved[d["source_vdi"]] = out["chain"]
        self.unscanned.append(out["chain"])

    def _scan(self, todo):
        self.dst.run_async("SR.scan", self.dest_sr, timeout=self.params["timeout"])
        self.unscanned = []
        for d in todo:
            chain = self.moved[d["source_vdi"]]
            ref = self.dst.call("VDI.get_by_uuid", chain[0])
            d["imported"] = True
            src = d["_chain"][0][1]
            self.dst.call("VDI.set_name_label", ref, src["name_label"])
            self.dst.call("VDI.set_name_description", ref, src["name_description"])
            for key, value in ((OC_FROM, d["source_vdi"]), (OC_CHAIN, ",".join(d["source_chain"])),
                               (OC_INSTANCE, self.instance)):
                try:
                    self.dst.call("VDI.remove_from_other_config", ref, key)
                except XenAPIError:
                    pass
                self.dst.call("VDI.add_to_other_config", ref, key, value)
        self.cleanup = []

    def cleanup_after_failure(self):
        pending, self.cleanup = list(self.cleanup), []
        for d in pending:
            try:
                self._plugin(self.dst, self.dest_host, "remove_staging", self._staging_args(d),
                             "Clearing the destination staging directory")
            except NovaopsError:
                pass
        # chains moved into the SR that no scan made VDIs: a later scan would adopt them as disks that
        # no VM uses and no re-run recognises (untagged); the source still has them, so they go
        unscanned, self.unscanned = self.unscanned, []
        for chain in unscanned:
            try:
                self._plugin(self.dst, self.dest_host, "remove_from_sr",
                             dict(sr_path=self.dest_path, vdi_uuids=json.dumps(chain)),
                             "Removing the unscanned chain from the destination SR")
            except NovaopsError:
                pass

    # -- result ------------------------------------------------------------------------------

    def result(self, facts):
        disks = facts["disks"]
        sent = self.sent if not self.module.check_mode else getattr(self, "planned_bytes", 0)
        return dict(disks=disks, vdi_uuids=[d["vdi"] for d in disks if d["vdi"]], bytes_transferred=sent)

    def apply(self, plan):
        try:
            return plan.apply()
        except NovaopsError:
            self.cleanup_after_failure()
            raise

    def converge(self):
        self.key, self.known_hosts = ssh_material(self.params)
        started = time.monotonic()
        result = super().converge()
        result["duration"] = round(time.monotonic() - started, 3)
        return result

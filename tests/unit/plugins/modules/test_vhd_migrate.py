# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vhd_migrate's own logic over fake pools (no plugin, no ssh): the plan's order (parents while
the VM runs, shutdown, leaves, imports, scan), what is refused before anything is sent, what the
transfer asks the plugin for (keys, known_hosts, the opt-out), idempotence by other_config, and
the cleanup of the destination staging after a failure."""

from __future__ import annotations

import json

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIError
from ansible_collections.novaops.compute.plugins.modules.vhd_migrate import OC_CHAIN, OC_FROM, Migration, argument_spec

GiB = 1 << 30
VM = "11111111-1111-4111-8111-111111111111"
LEAF, MID, BASE = ("aaaaaaaa-0000-4000-8000-00000000000%d" % i for i in (1, 2, 3))
ROOT = "bbbbbbbb-0000-4000-8000-000000000001"


class FakePool:
    """Just enough of a pool for the module: VDIs with vhd-parent, one SR on one host, VMs, VBDs."""

    def __init__(self, name, sr_size=100 * GiB, used=0):
        self.name = name
        self.records = {"VDI": {}, "VM": {}, "VBD": {}, "SR": {}, "PBD": {}, "host": {}, "pool": {}}
        self.calls = []
        self.plugin_results = {}
        self.plugin_errors = {}
        self.used = used
        self.add("host", "h", uuid="host-" + name)
        self.add("SR", "sr", uuid="sr-" + name, physical_size=str(sr_size), PBDs=["OpaqueRef:pbd"])
        self.add("PBD", "pbd", host="OpaqueRef:h", device_config={"path": "/srv/sr-" + name})
        self.add("pool", "p", default_SR="OpaqueRef:sr")

    def add(self, cls, key, **rec):
        ref = "OpaqueRef:%s" % key
        rec.setdefault("uuid", key)
        rec.setdefault("other_config", {})      # where the operation lock is marked
        self.records[cls][ref] = rec
        return ref

    def vdi(self, uuid, parent=None, size=GiB, vbds=(), **other):
        sm = {"vhd-parent": parent} if parent else {}
        return self.add("VDI", uuid, uuid=uuid, SR="OpaqueRef:sr", sm_config=sm, physical_utilisation=str(size),
                        VBDs=list(vbds), name_label="disk " + uuid[:4], name_description="",
                        other_config=dict(other))

    def by_uuid(self, cls, uuid):
        for ref, rec in self.records[cls].items():
            if rec["uuid"] == uuid:
                return ref
        raise XenAPIError("UUID_INVALID", [cls, uuid], "%s.get_by_uuid" % cls)

    def call(self, method, *args):
        self.calls.append((method,) + args)
        cls, op = method.split(".", 1)
        if op == "get_by_uuid":
            return self.by_uuid(cls, args[0])
        if op == "get_record":
            return dict(self.records[cls][args[0]])
        if op == "get_all_records":
            return {ref: dict(rec) for ref, rec in self.records[cls].items()}
        if op == "get_all":
            return list(self.records[cls])
        if method == "pool.get_default_SR":
            return self.records["pool"][args[0]]["default_SR"]
        if method == "SR.get_physical_utilisation":
            return str(self.used)
        if op.startswith("get_"):
            return self.records[cls][args[0]][op[4:]]
        if op.startswith("set_"):
            self.records[cls][args[0]][op[4:]] = args[1]
            return None
        if op == "add_to_other_config":
            self.records[cls][args[0]]["other_config"][args[1]] = args[2]
            return None
        if op == "remove_from_other_config":
            self.records[cls][args[0]]["other_config"].pop(args[1], None)
            return None
        raise AssertionError("unexpected call %s" % method)

    def run_async(self, method, *args, **kwargs):
        self.calls.append((method,) + args)
        if method == "host.call_plugin":
            fn, plugin_args = args[2], args[3]
            if fn in self.plugin_errors:
                raise self.plugin_errors[fn]
            return json.dumps(self.plugin_results.get(fn, lambda a: {})(plugin_args))
        if method in ("VM.clean_shutdown", "VM.hard_shutdown"):
            self.records["VM"][args[0]]["power_state"] = "Halted"
            return ""
        if method == "SR.scan":
            return ""
        raise AssertionError("unexpected async %s" % method)

    def find(self, cls, uuid=None, name=None, where=None, what=None):
        if uuid:
            try:
                ref = self.by_uuid(cls, uuid)
            except XenAPIError:
                raise NovaopsError("No %s has UUID %s." % (cls, uuid))
            return ref, dict(self.records[cls][ref])
        for ref, rec in self.records[cls].items():
            if rec.get("name_label") == name and (where is None or where(rec)):
                return ref, dict(rec)
        raise NovaopsError("No %s is named %r." % (cls, name))

    def plugin_calls(self, fn=None):
        return [c[4] for c in self.calls if c[0] == "host.call_plugin" and (fn is None or c[3] == fn)]


def source(running=True):
    """A VM with a three-deep root chain and a single-VDI ephemeral disk."""
    src = FakePool("a")
    src.vdi(BASE)
    src.vdi(MID, parent=BASE)
    src.vdi(LEAF, parent=MID, vbds=["OpaqueRef:vbd0"])
    src.vdi(ROOT, vbds=["OpaqueRef:vbd1"])
    src.add("VM", "vm", uuid=VM, name_label="web1", power_state="Running" if running else "Halted",
            is_a_template=False, is_control_domain=False, VBDs=["OpaqueRef:vbd1", "OpaqueRef:vbd0"])
    src.add("VBD", "vbd0", type="Disk", VDI="OpaqueRef:" + LEAF, userdevice="0", currently_attached=running)
    src.add("VBD", "vbd1", type="Disk", VDI="OpaqueRef:" + ROOT, userdevice="1", currently_attached=running)
    return src


def importing(dst):
    """Pool b's plugin: move_vhds_into_sr answers with the uuid_stack it was given."""
    def move(args):
        stack = json.loads(args["uuid_stack"])
        for seq, uuid in enumerate(stack):
            dst.vdi(uuid, parent=stack[seq + 1] if seq + 1 < len(stack) else None)
        return {"chain": stack}
    dst.plugin_results["move_vhds_into_sr"] = move
    dst.plugin_results["remove_staging"] = lambda args: {"removed": True}


class FakeModule:
    def __init__(self, check_mode=False, **params):
        self.params = dict(vdi_uuid=None, vm_uuid=None, vm_name="web1", shutdown=True, shutdown_timeout=30,
                           timeout=60, instance_uuid=None, dest_url=None, dest_sr_uuid=None, staging_root=None,
                           ssh_host="xen-b", ssh_port=22, ssh_user="root", ssh_private_key="KEY",
                           ssh_private_key_file=None, ssh_known_hosts="xen-b ssh-ed25519 AAAA",
                           ssh_known_hosts_file=None, insecure_ignore_host_key=False, ssh_connect_timeout=30,
                           bwlimit=0)
        self.params.update(params)
        self.check_mode = check_mode
        self._diff = True


def pools(running=True, **dst_kw):
    src, dst = source(running), FakePool("b", **dst_kw)
    src.plugin_results["transfer_vhd"] = lambda args: {"bytes": 1000 * len(json.loads(args["vdi_uuids"]))}
    importing(dst)
    return src, dst


def test_parents_go_while_the_vm_runs_then_shutdown_then_leaves():
    src, dst = pools()
    result = Migration(FakeModule(), src, dst).converge()
    assert result["changed"]
    assert result["actions"] == ["clear_staging:0", "clear_staging:1", "transfer_parents:" + LEAF,
                                 "shutdown:" + VM, "transfer_leaf:" + LEAF, "transfer_leaf:" + ROOT,
                                 "import:" + LEAF, "import:" + ROOT, "scan"]
    seen = [(c[0], c[3] if c[0] == "host.call_plugin" else None) for c in src.calls
            if c[0] in ("host.call_plugin", "VM.clean_shutdown")]
    sent = [json.loads(a["vdi_uuids"]) for a in src.plugin_calls("transfer_vhd")]
    assert sent == [[MID, BASE], [LEAF], [ROOT]]
    assert seen.index(("VM.clean_shutdown", None)) == 1          # after the parents, before any leaf
    assert [a["seq_num"] for a in src.plugin_calls("transfer_vhd")] == ["1", "0", "0"]
    assert src.records["VM"]["OpaqueRef:vm"]["power_state"] == "Halted"
    assert result["bytes_transferred"] == 4000
    assert [d["userdevice"] for d in result["disks"]] == ["0", "1"]
    assert result["disks"][0]["source_chain"] == [LEAF, MID, BASE] and len(result["disks"][0]["chain"]) == 3
    assert result["diff"]["before"]["disks"][0]["vdi"] is None
    assert result["diff"]["after"]["disks"][0]["vdi"] == result["vdi_uuids"][0]


def test_the_import_is_recorded_and_a_second_run_sends_nothing():
    src, dst = pools()
    first = Migration(FakeModule(), src, dst).converge()
    leaf = dst.records["VDI"][dst.by_uuid("VDI", first["vdi_uuids"][0])]
    assert leaf["other_config"][OC_FROM] == LEAF
    assert leaf["other_config"][OC_CHAIN] == ",".join([LEAF, MID, BASE])
    assert leaf["name_label"] == "disk " + LEAF[:4]
    src.calls, dst.calls = [], []
    again = Migration(FakeModule(), src, dst).converge()
    assert not again["changed"] and again["actions"] == [] and again["bytes_transferred"] == 0
    assert again["vdi_uuids"] == first["vdi_uuids"]
    assert src.plugin_calls() == [] and dst.plugin_calls() == []


def test_a_changed_source_chain_is_not_taken_for_the_imported_one():
    src, dst = pools(running=False)
    Migration(FakeModule(), src, dst).converge()
    src.vdi("cccccccc-0000-4000-8000-000000000009", parent=LEAF)   # the leaf was snapshotted since
    src.records["VBD"]["OpaqueRef:vbd0"]["VDI"] = "OpaqueRef:cccccccc-0000-4000-8000-000000000009"
    again = Migration(FakeModule(check_mode=True), src, dst).converge()
    assert again["changed"] and "import:cccccccc-0000-4000-8000-000000000009" in again["actions"]


def test_check_mode_plans_and_changes_nothing():
    src, dst = pools()
    result = Migration(FakeModule(check_mode=True), src, dst).converge()
    assert result["changed"] and "shutdown:" + VM in result["actions"]
    assert result["bytes_transferred"] == 4 * GiB            # what the chains hold
    assert src.plugin_calls() == [] and dst.plugin_calls() == []
    assert not any(c[0].startswith("VM.") and "shutdown" in c[0] for c in src.calls)
    assert src.records["VM"]["OpaqueRef:vm"]["power_state"] == "Running"


def test_a_running_vm_without_shutdown_is_refused_before_anything_is_sent():
    src, dst = pools()
    with pytest.raises(NovaopsError, match="in use by the running VM web1; set shutdown: true"):
        Migration(FakeModule(shutdown=False), src, dst).converge()
    assert src.plugin_calls() == [] and dst.plugin_calls() == []


def test_a_halted_vm_is_moved_without_a_shutdown():
    src, dst = pools(running=False)
    result = Migration(FakeModule(shutdown=False), src, dst).converge()
    assert not [a for a in result["actions"] if a.startswith("shutdown")]


def test_too_little_space_on_the_destination_is_refused_before_anything_is_sent():
    src, dst = pools(sr_size=10 * GiB, used=7 * GiB)
    with pytest.raises(NovaopsError, match="has 3221225472 bytes free, the chains need 4294967296") as err:
        Migration(FakeModule(), src, dst).converge()
    assert err.value.facts["xenapi_error"]["code"] == "SR_BACKEND_FAILURE_44"
    assert src.plugin_calls() == [] and dst.plugin_calls() == []
    assert src.records["VM"]["OpaqueRef:vm"]["power_state"] == "Running"


def test_the_transfer_carries_key_known_hosts_and_staging_but_no_opt_out():
    src, dst = pools(running=False)
    Migration(FakeModule(vm_name=None, vdi_uuid=LEAF, bwlimit=500), src, dst).converge()
    args = src.plugin_calls("transfer_vhd")[0]
    assert args["ssh_private_key"] == "KEY" and args["ssh_known_hosts"] == "xen-b ssh-ed25519 AAAA"
    assert "insecure_ignore_host_key" not in args
    assert (args["host"], args["port"], args["user"], args["bwlimit"]) == ("xen-b", "22", "root", "500")
    assert args["connect_timeout"] == "30"
    assert args["dest_root"] == "/srv/sr-b/.novaops-staging" and args["sr_path"] == "/srv/sr-a"
    assert args["instance_uuid"] == LEAF and args["disk"] == "0"


def test_the_opt_out_sends_no_known_hosts_and_cannot_be_mixed_with_them():
    src, dst = pools(running=False)
    Migration(FakeModule(ssh_known_hosts=None, insecure_ignore_host_key=True), src, dst).converge()
    args = src.plugin_calls("transfer_vhd")[0]
    assert args["insecure_ignore_host_key"] == "true" and "ssh_known_hosts" not in args
    rules = argument_spec().mutually_exclusive
    assert ["insecure_ignore_host_key", "ssh_known_hosts"] in rules
    assert ["insecure_ignore_host_key", "ssh_known_hosts_file"] in rules
    assert argument_spec().argument_spec["ssh_host"]["required"]


def test_no_known_hosts_leaves_the_check_to_the_dom0s_own():
    src, dst = pools(running=False)
    Migration(FakeModule(ssh_known_hosts=None), src, dst).converge()
    args = src.plugin_calls("transfer_vhd")[0]
    assert "ssh_known_hosts" not in args and "insecure_ignore_host_key" not in args


def test_a_failed_import_clears_the_destination_staging():
    src, dst = pools(running=False)
    dst.plugin_errors["move_vhds_into_sr"] = XenAPIError("XENAPI_PLUGIN_FAILURE", ["move_vhds_into_sr", "OSError",
                                                                                   "injected"], "host.call_plugin")
    with pytest.raises(NovaopsError, match="Importing the chain of VDI %s failed" % LEAF) as err:
        Migration(FakeModule(), src, dst).converge()
    assert err.value.facts["action_failed"] == "import:" + LEAF
    removed = [a["disk"] for a in dst.plugin_calls("remove_staging")]
    assert removed == ["0", "1", "0", "1"]                 # cleared before, and again after the failure


@pytest.mark.parametrize("instance", ["../../etc", "not-a-uuid", "/tmp/x"])
def test_an_instance_uuid_must_be_a_uuid(instance):
    with pytest.raises(NovaopsError, match="is not a UUID"):
        Migration(FakeModule(instance_uuid=instance), *pools()).converge()

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import collections
import re

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi import vm_facts as xf

VM_UUID = "11111111-1111-4111-8111-111111111111"
OTHER_UUID = "22222222-2222-4222-8222-222222222222"


class FakeConn:
    """Answers the generic XenAPI record calls from dicts, and counts them."""

    def __init__(self, db):
        self.db = db
        self.calls = collections.Counter()

    def call(self, method, *args):
        self.calls[method] = self.calls[method] + 1
        cls, op = method.split(".")
        objs = self.db.get(cls, {})
        if op == "get_all_records":
            return dict(objs)
        if op == "get_record":
            return objs[args[0]]
        if op == "get_all_records_where":
            field, value = re.match(r'field "(\w+)" = "(.*)"$', args[0]).groups()
            return dict((r, o) for r, o in objs.items() if str(o.get(field)) == value.replace('\\"', '"'))
        if method == "event.from":
            subs, token, _timeout = args
            assert token == ""
            events = []
            for sub in subs:
                name, _sep, ref = sub.partition("/")
                cls = next(c for c in self.db if c.lower() == name)
                for r, o in self.db[cls].items():
                    if not ref or r == ref:
                        events.append(dict(id=1, operation="add", ref=r, snapshot=o, timestamp="0", **{"class": name}))
            return dict(events=events, token="1", valid_ref_counts={})
        raise AssertionError(method)


def vm(uuid, name, **kw):
    rec = dict(uuid=uuid, name_label=name, power_state="Running", is_a_template=False, is_a_snapshot=False,
               is_control_domain=False, VCPUs_at_startup=2, VCPUs_max=2, memory_static_min=1 << 30,
               memory_static_max=1 << 30, memory_dynamic_min=1 << 30, memory_dynamic_max=1 << 30,
               other_config={}, xenstore_data={}, blocked_operations={}, VBDs=[], VIFs=[], consoles=[],
               snapshots=[])
    rec.update(kw)
    return rec


def db():
    return {
        "VM": {
            "OpaqueRef:vm": vm(VM_UUID, "inst", VBDs=["OpaqueRef:b0", "OpaqueRef:b1", "OpaqueRef:b2"],
                               VIFs=["OpaqueRef:f0"], consoles=["OpaqueRef:c0"],
                               other_config={xf.ATTACHED_KEY: "vdi-borrowed"},
                               blocked_operations={"start": ""}),
            "OpaqueRef:other": vm(OTHER_UUID, "owner", VBDs=["OpaqueRef:b9"]),
            "OpaqueRef:tpl": vm("33333333-3333-4333-8333-333333333333", "inst", is_a_template=True),
        },
        "VBD": {
            "OpaqueRef:b0": dict(uuid="vbd0", VM="OpaqueRef:vm", VDI="OpaqueRef:d0", userdevice="0", type="Disk",
                                 bootable=True, mode="RW", currently_attached=True),
            "OpaqueRef:b1": dict(uuid="vbd1", VM="OpaqueRef:vm", VDI="OpaqueRef:d1", userdevice="1", type="Disk",
                                 bootable=False, mode="RW", currently_attached=True),
            "OpaqueRef:b2": dict(uuid="vbd2", VM="OpaqueRef:vm", VDI="OpaqueRef:d2", userdevice="2", type="Disk",
                                 bootable=False, mode="RW", currently_attached=True),
            "OpaqueRef:b9": dict(uuid="vbd9", VM="OpaqueRef:other", VDI="OpaqueRef:d2", userdevice="0",
                                 type="Disk", bootable=True, mode="RW", currently_attached=False),
        },
        "VDI": {
            "OpaqueRef:d0": dict(uuid="vdi-root", name_label="root", SR="OpaqueRef:sr", virtual_size="1073741824",
                                 other_config={xf.OWNER_KEY: VM_UUID}, sm_config={"vhd-parent": "vdi-base"},
                                 VBDs=["OpaqueRef:b0"]),
            "OpaqueRef:d1": dict(uuid="vdi-borrowed", name_label="lent", SR="OpaqueRef:sr", virtual_size="2097152",
                                 other_config={}, sm_config={}, VBDs=["OpaqueRef:b1"]),
            "OpaqueRef:d2": dict(uuid="vdi-shared", name_label="shared", SR="OpaqueRef:sr", virtual_size="2097152",
                                 other_config={xf.OWNER_KEY: OTHER_UUID}, sm_config={},
                                 VBDs=["OpaqueRef:b2", "OpaqueRef:b9"]),
            "OpaqueRef:base": dict(uuid="vdi-base", name_label="base copy", SR="OpaqueRef:sr",
                                   virtual_size="1073741824", other_config={}, sm_config={"vhd-parent": "vdi-gone"},
                                   VBDs=[]),
        },
        "SR": {"OpaqueRef:sr": dict(uuid="sr-1", name_label="Local storage")},
        "VIF": {"OpaqueRef:f0": dict(uuid="vif0", VM="OpaqueRef:vm", device="0", MAC="02:00:00:00:00:01", MTU="1500",
                                     network="OpaqueRef:n", currently_attached=True)},
        "network": {"OpaqueRef:n": dict(uuid="55555555-5555-4555-8555-555555555555", name_label="eth0 net", bridge="xenbr0", MTU="1500")},
        "console": {"OpaqueRef:c0": dict(uuid="con0", VM="OpaqueRef:vm", protocol="rfb",
                                         location="https://h/console?uuid=con0")},
    }


def test_find_by_name_excludes_templates_and_reads_once():
    conn = FakeConn(db())
    ref, rec = xf.find_one_vm(xf.Records(conn), name="inst")
    assert ref == "OpaqueRef:vm"
    assert conn.calls == {"VM.get_all_records_where": 1}


def test_find_refuses_two_of_a_name():
    data = db()
    data["VM"]["OpaqueRef:twin"] = vm("44444444-4444-4444-8444-444444444444", "inst")
    with pytest.raises(NovaopsError, match="2 VMs are named 'inst'.*11111111.*44444444"):
        xf.find_one_vm(xf.Records(FakeConn(data)), name="inst")


def test_malformed_uuid():
    with pytest.raises(NovaopsError, match="is not a VM UUID"):
        xf.find_one_vm(xf.Records(FakeConn(db())), uuid="nope")


def test_facts_one_call_per_class():
    conn = FakeConn(db())
    records = xf.Records(conn)
    ref, rec = xf.find_one_vm(records, uuid=VM_UUID)
    facts = xf.vm_facts(records, ref, rec, chain=True, consoles=True, snapshots=True)
    assert max(conn.calls.values()) == 2, conn.calls
    assert sum(conn.calls.values()) == 4, conn.calls       # VM, 2 x event.from, VDIs of the SR (chain)
    disks = dict((d["userdevice"], d) for d in facts["disks"])
    assert disks["0"]["owned"] and disks["0"]["chain"] == ["vdi-root", "vdi-base", "vdi-gone"]
    assert disks["0"]["vhd_parent"] == "vdi-base"
    assert not disks["1"]["owned"]          # attached from elsewhere (recorded on the VM)
    assert not disks["2"]["owned"]          # owned by another VM, and shared
    assert facts["vdi_by_userdevice"] == {"0": "vdi-root", "1": "vdi-borrowed", "2": "vdi-shared"}
    assert facts["vifs"][0]["network_name"] == "eth0 net"
    assert facts["vifs"][0]["port"] is None        # no domain id recorded: no dom0 port
    assert facts["consoles"] == {"rfb": "https://h/console?uuid=con0"}
    assert facts["bootlocked"] and facts["power_state"] == "running"
    public = xf.public_facts(facts)
    assert "_ref" not in public and "_vbd_ref" not in public["disks"][0]


def test_unmarked_disk_of_one_vm_is_owned():
    data = db()
    data["VDI"]["OpaqueRef:d0"]["other_config"] = {}
    records = xf.Records(FakeConn(data))
    facts = xf.vm_facts(records, "OpaqueRef:vm", data["VM"]["OpaqueRef:vm"])
    assert facts["disks"][0]["owned"]


def test_vhd_chain_stops_at_loops():
    by_uuid = {"a": {"uuid": "a", "sm_config": {"vhd-parent": "b"}},
               "b": {"uuid": "b", "sm_config": {"vhd-parent": "a"}}}
    assert xf.vhd_chain(by_uuid["a"], by_uuid) == ["a", "b"]


def test_match_filters():
    rec = vm(VM_UUID, "inst-1", other_config={"novaops_desired_state": "running"})
    assert xf.match_filters(rec, {"power_state": "running", "name_label": "inst-*"})
    assert xf.match_filters(rec, {"other_config.novaops_desired_state": "running"})
    assert not xf.match_filters(rec, {"other_config:novaops_desired_state": "halted"})
    assert not xf.match_filters(rec, {"is_a_template": "true"})
    assert not xf.match_filters(rec, {"no_such_field": "*"})


def test_quote():
    assert xf.quote('a "b" \\c') == '"a \\"b\\" \\\\c"'


def test_resolve():
    records = xf.Records(FakeConn(db()))
    assert records.resolve("network", "55555555-5555-4555-8555-555555555555")[0] == "OpaqueRef:n"
    assert records.resolve("network", "eth0 net")[0] == "OpaqueRef:n"
    with pytest.raises(NovaopsError, match="No SR has the UUID or name 'x' \\(known: Local storage\\)"):
        records.resolve("SR", "x", "SR")


def test_dom0_port_of_the_running_domain():
    assert xf.dom0_port(7, "1") == "vif7.1" and xf.dom0_port(None, "0") is None
    assert xf._domid(dict(domid="12", power_state="Running")) == 12
    assert xf._domid(dict(domid="-1", power_state="Halted")) is None
    assert xf._domid(dict(domid="3", power_state="Halted")) is None       # a stale id of a halted VM


def test_vdi_by_userdevice_leaves_out_an_empty_drive():
    disks = [dict(userdevice="0", vdi_uuid="vdi-root"), dict(userdevice="3", vdi_uuid=None)]
    assert xf.vdi_by_userdevice(disks) == {"0": "vdi-root"}

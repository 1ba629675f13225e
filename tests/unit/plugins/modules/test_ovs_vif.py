# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.input_rules import check_rules
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import OVS
from ansible_collections.novaops.compute.plugins.module_utils.ovs.addresses import parse_ip
from ansible_collections.novaops.compute.plugins.module_utils.ovs.vif_flows import vif_flows
from ansible_collections.novaops.compute.plugins.modules.ovs_qos_queue_info import _close
from ansible_collections.novaops.compute.plugins.modules.ovs_vif import VIF, argument_spec
from ansible_collections.novaops.compute.tests.unit.plugins.fake_module import FakeModule
from ansible_collections.novaops.compute.tests.unit.plugins.modules.ovs_commands import OVSCommands, table

MAC = "fa:16:3e:00:00:05"
IDS = {"iface-id": "abc", "attached-mac": MAC}


def vif_module(params, check_mode=False):
    """tap1 on br-int with MAC and 10.0.0.5, iface-id abc; the rest as given or the module's defaults."""
    plugged = dict(port="tap1", bridge="br-int", mac=MAC, ips=["10.0.0.5"], iface_id="abc")
    return FakeModule(argument_spec(), {**plugged, **params}, check_mode, diff=True)


class PluggedOVS(OVSCommands):
    """tap1 on br-int, ofport 3, with the flows given."""

    def __init__(self, flow_lines):
        super().__init__()
        self.flow_lines = flow_lines

    def answer(self, argv):
        if "dump-flows" in argv:
            return 0, "\n".join(self.flow_lines), ""
        if "list" not in argv:
            return 0, "", ""
        return self.list_answers(argv, lambda name, _record: self.TABLES[name])

    TABLES = {
        "Port": table(["_uuid", "name", "interfaces"], [[["uuid", "p-1"], "tap1", ["uuid", "i-1"]]]),
        "Bridge": table(["_uuid", "name", "ports"], [[["uuid", "b-1"], "br-int", ["uuid", "p-1"]]]),
        "Interface": table(["_uuid", "name", "type", "ofport", "external_ids"],
                           [[["uuid", "i-1"], "tap1", "", 3, ["map", [[k, v] for k, v in IDS.items()]]]]),
    }


def installed(ips):
    _cookie, specs = vif_flows("tap1", 3, MAC, [parse_ip(i) for i in ips])
    return [" " + s for s in specs]


def test_flows_in_place_mean_no_change():
    run = PluggedOVS(installed(["10.0.0.5"]))
    result = VIF(vif_module({}), OVS(run)).converge()
    assert result["changed"] is False and run.writes == []


def test_a_no_change_run_reads_ovsdb_once_and_the_bridge_flows_once():
    run = PluggedOVS(installed(["10.0.0.5"]))
    result = VIF(vif_module({}), OVS(run)).converge()
    assert result["changed"] is False
    assert [a[0] for a in run.calls] == ["ovs-vsctl", "ovs-ofctl"]


def test_changed_addresses_replace_the_flows_in_one_bundle():
    run = PluggedOVS(installed(["10.0.0.5"]))
    result = VIF(vif_module(dict(ips=["10.0.0.5", "10.0.0.6"])), OVS(run)).converge()
    assert result["actions"] == ["flows"]
    bundles = [a for a in run.writes if "--bundle" in a]
    assert len(bundles) == 1


def test_a_missing_flow_is_noticed():
    run = PluggedOVS(installed(["10.0.0.5"])[1:])
    result = VIF(vif_module({}), OVS(run)).converge()
    assert result["actions"] == ["flows"]


class EmptyBridgeOVS(OVSCommands):
    """br-int with no tap1; interfaces elsewhere hold OpenFlow numbers 1 and 2 and ask for 4."""

    def answer(self, argv):
        if "list" not in argv:
            return 0, "", ""
        return self.list_answers(argv, self.table_of)

    @staticmethod
    def table_of(name, record):
        if name == "Bridge":
            return table(["_uuid", "name", "ports"], [[["uuid", "b-1"], "br-int", ["set", []]]])
        if name == "Interface" and record[:1] != ["tapnotyet"]:
            return table(["_uuid", "ofport", "ofport_request"], [
                [["uuid", "i-1"], 1, ["set", []]], [["uuid", "i-2"], 2, ["set", []]], [["uuid", "i-3"], -1, 4]])
        return table(["_uuid"], [])


def test_reserve_ofport_plugs_before_the_device_with_the_lowest_free_number_and_its_flows_at_once():
    """A live migration's destination: no tap yet; the port gets number 3 and the flows match in_port=3."""
    run = EmptyBridgeOVS()
    result = VIF(vif_module(dict(port="tapnotyet", reserve_ofport=True)), OVS(run)).converge()
    assert result["actions"] == ["plug", "flows"]
    plug = next(a for a in run.calls if "add-port" in a)
    assert "ofport_request=3" in plug
    flows = next(a for a in run.calls if "--bundle" in a)
    assert flows and not any("ofport" in a and "get" in a for a in run.calls)   # no wait for the device
    checking = EmptyBridgeOVS()
    planned = VIF(vif_module(dict(port="tapnotyet", reserve_ofport=True), check_mode=True), OVS(checking)).converge()
    assert planned["vif"]["ofport_request"] == 3 and not any("add-port" in a for a in checking.calls)


def test_without_reserve_ofport_a_missing_device_is_refused():
    with pytest.raises(NovaopsError) as err:
        VIF(vif_module(dict(port="tapnotyet")), OVS(EmptyBridgeOVS())).converge()
    assert "reserve_ofport" in err.value.msg


@pytest.mark.parametrize("params, msg", [
    (dict(mac="fa:16:3e:00:00"), "MAC address"),
    (dict(ips=["10.0.0.999"]), "not a valid IPv4 or IPv6 address"),
    (dict(mac=None), "mac is required"),
])
def test_bad_input(params, msg):
    run = PluggedOVS([])
    with pytest.raises(NovaopsError) as err:
        VIF(vif_module(params), OVS(run))
    assert msg in err.value.msg and run.calls == []


def test_close():
    assert _close(614400000, 614400000, 0.005)
    assert _close(614400000, 614400008, 0.0)
    assert not _close(100000000, 614400000, 0.005)
    assert not _close(None, 1, 0.5)


def test_the_declared_rules_refuse_a_table_or_timeout_out_of_range():
    declared = argument_spec().input_rules
    assert "next_table must be between 1 and 254" in check_rules(declared, dict(next_table=0, timeout=10))[0]
    assert "timeout must be at least 1 second" in check_rules(declared, dict(timeout=0))[0]
    assert check_rules(declared, dict(next_table=1, timeout=1)) == (None, [])

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import OVS
from ansible_collections.novaops.compute.plugins.module_utils.ovs.queue_flows import qos_cookie_prefix
from ansible_collections.novaops.compute.plugins.modules.ovs_qos_queue_info import QueueInfo, argument_spec
from ansible_collections.novaops.compute.tests.unit.plugins.fake_module import FakeModule
from ansible_collections.novaops.compute.tests.unit.plugins.modules.ovs_commands import OVSCommands, table

# Two physical ports with a QoS that both have queue 7: "aa-phys" on br-a (first by name) and
# "zz-phys" on br-z - the way a port another run left behind shares a queue id.
PORTS = [("p-a", "aa-phys", "q-a"), ("p-z", "zz-phys", "q-z")]
BRIDGES = [("b-a", "br-a", ["p-a"]), ("b-z", "br-z", ["p-z"])]


def flow_line(cookie, source="10.0.0.5", queue=7):
    return (" cookie=0x%x, duration=1.0s, table=0, n_packets=0, n_bytes=0, priority=100,ip,nw_src=%s "
            "actions=set_queue:%d,NORMAL" % (cookie, source, queue))


class FakeRun(OVSCommands):
    """OVSDB with PORTS and BRIDGES; dump-flows of a bridge from ``flows`` ({bridge: [line]})."""

    def __init__(self, flows):
        super().__init__()
        self.flows = flows

    def answer(self, argv):
        if "dump-flows" in argv:
            return 0, "\n".join(self.flows.get(argv[argv.index("dump-flows") + 1], [])) + "\n", ""
        if "list-br" in argv:
            return 0, "".join(name + "\n" for _u, name, _p in BRIDGES), ""
        return self.list_answers(argv, self.table)

    @staticmethod
    def table(name, record):
        if name == "Port":
            return table(["_uuid", "name", "qos"], [[["uuid", u], n, ["uuid", q]] for u, n, q in PORTS])
        if name == "Bridge":
            rows = [[["uuid", u], n, ["set", [["uuid", p] for p in ports]]] for u, n, ports in BRIDGES]
            return table(["_uuid", "name", "ports"], rows)
        if name == "QoS":
            return table(["_uuid", "other_config", "queues", "type"],
                         [[["uuid", q], ["map", []], ["map", [[7, ["uuid", "u-" + q]]]], "linux-noop"]
                          for _u, _n, q in PORTS])
        if name == "Queue":
            return table(["_uuid", "other_config"], [[["uuid", "u-" + q], ["map", []]] for _u, _n, q in PORTS])
        raise AssertionError("unexpected list of %s" % name)


def holder_of(flows, bridge=None):
    module = FakeModule(argument_spec(), dict(ip="10.0.0.5", bridge=bridge))
    result = QueueInfo(module, OVS(FakeRun(flows))).run()
    return [entry["qos_port"] for entry in result["queues"]]


@pytest.mark.parametrize("bridge", [None, "br-a"])
def test_the_port_the_flow_cookie_names_holds_the_queue(bridge):
    # ovs_qos_queue made the flow for zz-phys (its cookie's prefix), on br-a: not the first port by name
    flows = {"br-a": [flow_line(qos_cookie_prefix("zz-phys") << 32 | 7)]}
    assert holder_of(flows, bridge) == ["zz-phys"]


def test_without_our_cookie_the_port_on_the_flows_bridge_holds_the_queue():
    assert holder_of({"br-z": [flow_line(0x0)]}) == ["zz-phys"]
    assert holder_of({"br-a": [flow_line(0x0)]}) == ["aa-phys"]

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.ovs.flow_dump import parse_flow, parse_flows
from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import cookie_mask, flow_spec, name_cookie_prefix
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import (
    OVS, OVSError, as_list, as_one, decode_table, decode_value,
)
from ansible_collections.novaops.compute.plugins.module_utils.ovs.tc import KERNEL_QUEUE_ID_MAX, htb_class_id
from ansible_collections.novaops.compute.plugins.module_utils.ovs.tc_show import parse_tc_classes, parse_tc_rate

PORT_JSON = json.dumps({
    "headings": ["_uuid", "name", "qos", "interfaces", "external_ids"],
    "data": [[["uuid", "p-1"], "nt-a", ["uuid", "q-1"], ["uuid", "i-1"], ["map", [["iface-id", "x"]]]]],
})
QOS_JSON = json.dumps({
    "headings": ["_uuid", "external_ids", "other_config", "queues", "type"],
    "data": [[["uuid", "q-1"], ["map", []], ["map", [["max-rate", "1000000000"]]],
              ["map", [[13947, ["uuid", "u-1"]]]], "linux-htb"]],
})
QUEUE_JSON = json.dumps({
    "headings": ["_uuid", "dscp", "external_ids", "other_config"],
    "data": [[["uuid", "u-1"], ["set", []], ["map", []], ["map", [["max-rate", "614400000"]]]]],
})
BRIDGE_JSON = json.dumps({
    "headings": ["_uuid", "name", "ports"],
    "data": [[["uuid", "b-1"], "nt-br", ["set", [["uuid", "p-0"], ["uuid", "p-1"]]]]],
})
PORTS_JSON = json.dumps({
    "headings": ["_uuid", "name"],
    "data": [[["uuid", "p-0"], "nt-br"], [["uuid", "p-1"], "nt-a"]],
})

TC = """class htb 1:1 parent 1:fffe prio 0 rate 12Kbit ceil 1Gbit burst 1563b cburst 1500b
class htb 1:fffe root rate 1Gbit ceil 1Gbit burst 1375b cburst 1375b
class htb 1:367c parent 1:fffe prio 0 rate 12Kbit ceil 614400Kbit burst 1563b cburst 1536b
"""

FLOWS = """NXST_FLOW reply (xid=0x4):
 cookie=0x1234000000000005, duration=0.005s, table=0, n_packets=3, n_bytes=180, idle_age=0, priority=100,ip,nw_src=10.0.0.5 actions=set_queue:5,NORMAL
 cookie=0x0, duration=2.644s, table=0, n_packets=5, n_bytes=426, idle_age=1, priority=0 actions=NORMAL
 cookie=0x1234000000000006, table=1, priority=3,arp,in_port=1,dl_src=fa:16:3e:00:00:01,arp_spa=10.0.0.5 actions=NORMAL
"""


class FakeRun:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        for key, answer in self.answers:
            if key(argv):
                return answer
        return 0, "", ""


def test_decode_value_shapes():
    assert decode_value(["uuid", "abc"]) == "abc"
    assert decode_value(["set", []]) == []
    assert decode_value(["set", [["uuid", "a"], ["uuid", "b"]]]) == ["a", "b"]
    assert decode_value(["map", [[13947, ["uuid", "u"]]]]) == {13947: "u"}
    assert decode_value("linux-htb") == "linux-htb"
    assert decode_value(7) == 7
    assert as_list("a") == ["a"] and as_list([]) == [] and as_list(None) == []
    assert as_one([]) is None and as_one("x") == "x" and as_one(["y"]) == "y"


def test_decode_table():
    rows = decode_table(QOS_JSON)
    assert rows[0]["queues"] == {13947: "u-1"}
    assert rows[0]["other_config"] == {"max-rate": "1000000000"}
    assert decode_table("") == []


def test_reads_use_json_and_if_exists():
    run = FakeRun([(lambda a: "list" in a and "Port" in a, (0, PORT_JSON, ""))])
    ovs = OVS(run)
    row = ovs.port("nt-a")
    argv = run.calls[0][0]
    assert "--format=json" in argv and "--if-exists" in argv and argv[-1] == "nt-a"
    assert row["qos"] == "q-1" and row["external_ids"] == {"iface-id": "x"}


def test_missing_row_is_none():
    ovs = OVS(FakeRun([]))
    assert ovs.port("nope") is None


def test_qos_of_port_and_queues():
    run = FakeRun([
        (lambda a: "Port" in a, (0, PORT_JSON, "")),
        (lambda a: "QoS" in a, (0, QOS_JSON, "")),
        (lambda a: "Queue" in a, (0, QUEUE_JSON, "")),
    ])
    ovs = OVS(run)
    qrow = ovs.get_row("QoS", ovs.port("nt-a")["qos"])
    assert qrow["type"] == "linux-htb"
    queues = ovs.queues_of_qos(qrow)
    assert queues[13947]["other_config"]["max-rate"] == "614400000"


def test_port_bridge():
    run = FakeRun([
        (lambda a: "Bridge" in a, (0, BRIDGE_JSON, "")),
        (lambda a: "Port" in a and "list" in a and "--if-exists" in a, (0, PORT_JSON, "")),
        (lambda a: "Port" in a, (0, PORTS_JSON, "")),
    ])
    ovs = OVS(run)
    assert ovs.port_bridge("nt-a") == "nt-br"


def test_transaction_is_one_call():
    run = FakeRun([])
    ovs = OVS(run)
    txn = ovs.transaction()
    q = txn.create("Queue", other_config={"max-rate": "614400000"})
    txn.command("set", "QoS", "q-1", "queues:13947=%s" % q)
    txn.commit()
    assert len(run.calls) == 1
    argv = run.calls[0][0]
    assert argv[:2] == ["ovs-vsctl", "--timeout=10"]
    assert argv[2:] == ["--", "--id=@queue1", "create", "Queue", 'other_config:max-rate=614400000',
                        "--", "set", "QoS", "q-1", "queues:13947=@queue1"]


def test_empty_transaction_runs_nothing():
    run = FakeRun([])
    OVS(run).transaction().commit()
    assert run.calls == []


def test_failed_command_raises_ovs_error():
    run = FakeRun([(lambda a: True, (1, "", "ovs-vsctl: no bridge named nt-x\n"))])
    with pytest.raises(OVSError) as err:
        OVS(run).transact([["add-port", "nt-x", "p"]])
    assert "no bridge named nt-x" in err.value.msg
    assert err.value.facts["ovs_error"]["rc"] == 1


def test_parse_flows():
    flows = parse_flows(FLOWS)
    assert len(flows) == 3
    first = flows[0]
    assert first["cookie"] == 0x1234000000000005 and first["priority"] == 100 and first["table"] == 0
    assert first["match"] == "ip,nw_src=10.0.0.5"
    assert first["match_fields"] == {"ip": True, "nw_src": "10.0.0.5"}
    assert first["actions"] == "set_queue:5,NORMAL"
    assert first["n_packets"] == 3
    assert flows[1]["match"] == "" and flows[1]["priority"] == 0
    assert flows[2]["table"] == 1 and flows[2]["match_fields"]["arp_spa"] == "10.0.0.5"
    assert parse_flow("NXST_FLOW reply (xid=0x4):") is None


def test_cookies_and_flow_spec():
    prefix = name_cookie_prefix("nt-a")
    assert prefix == name_cookie_prefix("nt-a") and 0 < prefix <= 0xffffffff
    assert cookie_mask(0x1234) == "0x123400000000/0xffffffff00000000"
    assert flow_spec(0x5, 100, "ip,nw_src=10.0.0.5", "set_queue:5,normal") == \
        "cookie=0x5,table=0,priority=100,ip,nw_src=10.0.0.5 actions=set_queue:5,normal"


def test_parse_tc():
    classes = parse_tc_classes(TC)
    assert [c["classid"] for c in classes] == ["1:1", "1:fffe", "1:367c"]
    c = classes[2]
    assert c["ceil"] == 614400000 and c["rate"] == 12000 and c["parent"] == "1:fffe" and c["prio"] == 0
    assert c["ceil_text"] == "614400Kbit"
    assert classes[1]["root"] is True
    assert parse_tc_rate("1Gbit") == 10 ** 9 and parse_tc_rate("12Kbit") == 12000
    assert parse_tc_rate("100bit") == 100 and parse_tc_rate("nonsense") is None


def test_tc_classes_of_a_device():
    run = FakeRun([(lambda a: a[0] == "tc", (0, TC, "")), (lambda a: True, (1, "", "Cannot find device"))])
    ovs = OVS(run)
    classes = dict((c["classid"], c) for c in ovs.tc_classes("nt-a"))
    assert classes[htb_class_id(13947)]["ceil"] == 614400000 and "1:99" not in classes
    assert OVS(FakeRun([(lambda a: True, (1, "", "Cannot find device"))])).tc_classes("nt-gone") == []


def test_htb_class_id_matches_measured():
    assert htb_class_id(13947) == "1:367c"
    assert htb_class_id(0) == "1:1"
    assert KERNEL_QUEUE_ID_MAX == 61439


def test_apply_flows_is_one_bundle():
    run = FakeRun([])
    OVS(run).apply_flows("nt-br", delete=["cookie=0x1/-1"], add=["priority=1 actions=drop"])
    argv, kwargs = run.calls[0]
    assert "--bundle" in argv and argv[-1] == "-"
    assert kwargs["data"] == "delete cookie=0x1/-1\nadd priority=1 actions=drop"

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovs_qos_queue_info
short_description: The rate limit a VIF really has, from OVSDB down to the kernel's tc class
version_added: "0.1.0"
description:
  - Answers "what limit does this VIF really have" in one call, the way an operator digs by
    hand through five commands, without being told the queue id.
  - For a VIF given by port, interface or IP address it follows the whole path - the port's
    QoS and its type, the flow that sends the VIF's traffic to a queue and that queue's id,
    the Queue row and its C(max-rate), the kernel's tc class C(1:<hex(queue_id+1)>) with its
    C(ceil) and C(rate) - and says whether OVSDB and the kernel agree.
  - A port with a QoS of its own (the physical port) gives every queue of that QoS. A VIF
    port without a QoS is followed through the flows that steer its addresses (taken from its
    C(in_port) anti-spoofing flows) to the QoS port that holds the queue.
  - When the QoS of several ports has the flow's queue id, the QoS port is the one the flow's cookie
    names (the flows of M(novaops.compute.ovs_qos_queue)), else the first by name on the flow's bridge,
    else the first by name.
author: novaops.compute maintainers (@novaops)
requirements:
  - Open vSwitch (C(ovs-vsctl), C(ovs-ofctl)) and C(tc) on the managed node
  - netaddr
extends_documentation_fragment:
  - novaops.compute.info_module
options:
  port:
    description: An Open vSwitch port, either the one carrying the QoS or the VIF's own port.
    type: str
  interface:
    description: An Open vSwitch interface (the VIF's tap or veth); its port is used.
    type: str
  ip:
    description: The VIF's IP address; the flows matching it as source lead to the queue.
    type: str
  bridge:
    description:
      - The bridge whose flows are searched for C(set_queue) actions.
      - Defaults to the bridge of the port, or every bridge when only O(ip) is given.
    type: str
  tolerance:
    description:
      - Relative difference allowed between OVSDB's rate and the kernel's, which tc prints
        rounded and OVS keeps in bytes per second.
    type: float
    default: 0.005
  timeout:
    description: Seconds C(ovs-vsctl) waits for the database.
    type: int
    default: 10
notes:
  - Exactly one of O(port), O(interface) and O(ip) is required.
seealso:
  - module: novaops.compute.ovs_qos_queue
"""

EXAMPLES = r"""
- name: What limit does 10.0.0.5 really have?
  novaops.compute.ovs_qos_queue_info:
    ip: 10.0.0.5
  register: limit

- name: Show it
  ansible.builtin.debug:
    msg: "{{ limit.max_rate }} bit/s, kernel ceil {{ limit.queues[0].tc.ceil_text }}, agree={{ limit.agree }}"

- name: Every queue of the physical port
  novaops.compute.ovs_qos_queue_info:
    port: eth1
    bridge: br-int
"""

RETURN = r"""
queues:
  description: One entry per queue reached (per source IP when a flow leads to it).
  returned: always
  type: list
  elements: dict
  contains:
    ip:
      description: The source IP the flow matches, or null for a queue no flow uses.
      type: str
      sample: 10.0.0.5
    bridge:
      description: The bridge of the flow.
      type: str
      sample: br-int
    flow:
      description: The flow (cookie, table, priority, match, actions), or null.
      type: dict
      sample: {"cookie": "0x9dace8a50000367b", "table": 0, "priority": 100,
               "match": "ip,nw_src=10.0.0.5", "actions": "set_queue:13947,NORMAL"}
    queue_id:
      description: The queue id.
      type: int
      sample: 13947
    qos_port:
      description: The port whose QoS holds the queue, or null when none does.
      type: str
      sample: eth1
    qos:
      description: The QoS row (uuid, type, max_rate).
      type: dict
      sample: {"uuid": "7046d4db-9dfe-4f18-9801-4bb38c754e86", "type": "linux-htb", "max_rate": 1000000000}
    queue:
      description: The Queue row (uuid, max_rate, min_rate, burst, priority), or null.
      type: dict
      sample: {"uuid": "e0c9b36a-b17f-4cf0-867f-23666a5e807f", "max_rate": 614400000,
               "min_rate": null, "burst": null, "priority": null}
    tc:
      description: The kernel's class for the queue on the QoS port.
      type: dict
      sample: {"dev": "eth1", "classid": "1:367c", "present": true, "rate": 12000,
               "ceil": 614400000, "rate_text": "12Kbit", "ceil_text": "614400Kbit"}
    expected_ceil:
      description: The ceil OVSDB implies (the queue's max-rate, capped by the QoS's).
      type: int
      sample: 614400000
    max_rate:
      description: The limit in force, bits per second (the kernel's ceil when it has the class).
      type: int
      sample: 614400000
    agree:
      description: Whether OVSDB and the kernel agree on this queue.
      type: bool
      sample: true
    problems:
      description: What does not agree, in words.
      type: list
      elements: str
      sample: []
max_rate:
  description: The limit in force when exactly one queue was reached, else null.
  returned: always
  type: int
  sample: 614400000
queue_id:
  description: The queue id when exactly one queue was reached, else null.
  returned: always
  type: int
  sample: 13947
agree:
  description: Whether OVSDB and the kernel agree on every queue reached.
  returned: always
  type: bool
  sample: true
found:
  description: Whether any queue was reached.
  returned: always
  type: bool
  sample: true
"""

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.ovs.module_main import run_on_ovs
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import as_list, as_one
from ansible_collections.novaops.compute.plugins.module_utils.ovs.tc import KERNEL_QOS_TYPES, htb_class_id
from ansible_collections.novaops.compute.plugins.module_utils.ovs.addresses import parse_ip
from ansible_collections.novaops.compute.plugins.module_utils.ovs.queue_flows import (
    qos_cookie_prefix, queue_of_actions, source_of_match,
)


def argument_spec():
    return ArgumentSpec(
        dict(
            port=dict(type="str"),
            interface=dict(type="str"),
            ip=dict(type="str"),
            bridge=dict(type="str"),
            tolerance=dict(type="float", default=0.005),
            timeout=dict(type="int", default=10),
        ),
        mutually_exclusive=[["port", "interface", "ip"]],
        required_one_of=[["port", "interface", "ip"]],
        input_rules={"timeout": rules.SECONDS},
    )


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class QueueInfo:

    def __init__(self, module, ovs):
        self.module = module
        self.params = module.params
        self.ovs = ovs
        self._qos_ports = None
        self._port_bridges = None
        self._tc = {}

    # -- look-ups ------------------------------------------------------------------------
    def qos_ports(self):
        """[(port name, qos row, {queue_id: queue row})] for every port with a QoS."""
        if self._qos_ports is None:
            qos_rows = dict((r["_uuid"], r) for r in self.ovs.list("QoS"))
            queue_rows = dict((r["_uuid"], r) for r in self.ovs.list("Queue")) if qos_rows else {}
            found = []
            for prow in self.ovs.list("Port", columns=["name", "qos"]):
                qos_uuid = as_one(prow.get("qos"))
                if qos_uuid and qos_uuid in qos_rows:
                    qrow = qos_rows[qos_uuid]
                    queues = dict((int(k), queue_rows.get(v, {"_uuid": v}))
                                  for k, v in (qrow.get("queues") or {}).items())
                    found.append((prow["name"], qrow, queues))
            self._qos_ports = sorted(found, key=lambda item: item[0])
        return self._qos_ports

    def port_bridges(self):
        """{port name: bridge name} of every port on a bridge."""
        if self._port_bridges is None:
            names = dict((r["_uuid"], r["name"]) for r in self.ovs.list("Port", columns=["name"]))
            self._port_bridges = dict((names[u], b["name"]) for b in self.ovs.list("Bridge", columns=["name", "ports"])
                                      for u in as_list(b.get("ports")) if u in names)
        return self._port_bridges

    def tc_classes(self, dev):
        if dev not in self._tc:
            self._tc[dev] = dict((c["classid"], c) for c in self.ovs.tc_classes(dev))
        return self._tc[dev]

    def queue_flows(self, bridges):
        """[(bridge, flow, queue id, source ip or None)] of every set_queue flow."""
        found = []
        for bridge in bridges:
            for flow in self.ovs.dump_flows(bridge):
                qid = queue_of_actions(flow["actions"])
                if qid is None:
                    continue
                found.append((bridge, flow, qid, source_of_match(flow["match_fields"])))
        return found

    # -- the path ------------------------------------------------------------------------
    def entry(self, qid, qos_port=None, qos_row=None, queue_row=None, bridge=None, flow=None, ip=None):
        tol = self.params["tolerance"]
        problems = []
        qos = None
        queue = None
        tc = None
        expected = None
        if qos_row is not None:
            qos = dict(uuid=qos_row["_uuid"], type=qos_row.get("type"),
                       max_rate=_int((qos_row.get("other_config") or {}).get("max-rate")))
        if queue_row is not None:
            oc = queue_row.get("other_config") or {}
            queue = dict(uuid=queue_row.get("_uuid"), max_rate=_int(oc.get("max-rate")), min_rate=_int(oc.get("min-rate")),
                         burst=_int(oc.get("burst")), priority=_int(oc.get("priority")))
        if qos_port is None:
            problems.append("No port's QoS has a queue %s, so the flow's set_queue has no effect." % qid)
        elif queue is None:
            problems.append("The QoS on %s has no queue %s." % (qos_port, qid))
        if qos is not None and qos["type"] in KERNEL_QOS_TYPES and qos_port is not None:
            classid = htb_class_id(qid)
            classes = self.tc_classes(qos_port)
            cls = classes.get(classid)
            root = classes.get("1:fffe")
            tc = dict(dev=qos_port, classid=classid, present=cls is not None,
                      rate=cls["rate"] if cls else None, ceil=cls["ceil"] if cls else None,
                      rate_text=cls["rate_text"] if cls else None, ceil_text=cls["ceil_text"] if cls else None,
                      root_ceil=root["ceil"] if root else None)
            cap = qos["max_rate"] or tc["root_ceil"]
            if queue is not None:
                expected = queue["max_rate"] or cap
                if expected is not None and cap is not None:
                    expected = min(expected, cap)
                if cls is None:
                    problems.append("The kernel has no class %s on %s for queue %s." % (classid, qos_port, qid))
                elif expected is not None and cls["ceil"] is not None and not _close(cls["ceil"], expected, tol):
                    problems.append("The kernel's ceil %s on class %s differs from OVSDB's %s bit/s."
                                    % (cls["ceil_text"], classid, expected))
            if qos["max_rate"] and root is not None and root["ceil"] and not _close(root["ceil"], qos["max_rate"], tol):
                problems.append("The kernel's root class 1:fffe on %s has ceil %s, OVSDB's QoS max-rate is %s."
                                % (qos_port, root["ceil_text"], qos["max_rate"]))
        if tc and tc["ceil"] is not None:
            max_rate = tc["ceil"]
        else:
            max_rate = expected if expected is not None else (queue or {}).get("max_rate")
        if flow is not None:
            flow = dict(cookie="0x%x" % flow["cookie"], table=flow["table"], priority=flow["priority"],
                        match=flow["match"], actions=flow["actions"])
        return dict(ip=str(ip) if ip is not None else None, bridge=bridge, flow=flow, queue_id=qid,
                    qos_port=qos_port, qos=qos, queue=queue, tc=tc, expected_ceil=expected,
                    max_rate=max_rate, agree=not problems, problems=problems)

    def holder(self, qid, bridge=None, cookie=None):
        """(port, qos row, queue row) of the QoS port a flow on bridge with cookie sends to queue qid.

        Several ports can have a queue qid (a physical port per bridge, or another run's port): the
        port the flow's cookie names (ovs_qos_queue gives its flows the QoS port's cookie prefix) is
        it; else the first by name on the flow's bridge (set_queue acts where the packet leaves that
        bridge); else the first by name, so that the answer is the same on every run.
        """
        holders = [(name, qrow, queues[qid]) for name, qrow, queues in self.qos_ports() if qid in queues]
        if len(holders) > 1 and cookie is not None:
            named = [item for item in holders if qos_cookie_prefix(item[0]) == cookie >> 32]
            if len(named) == 1:
                return named[0]
        if len(holders) > 1 and bridge is not None:
            on_bridge = [item for item in holders if self.port_bridges().get(item[0]) == bridge]
            if on_bridge:
                return on_bridge[0]
        return holders[0] if holders else (None, None, None)

    def by_ips(self, ips, bridges):
        entries = []
        for bridge, flow, qid, src in self.queue_flows(bridges):
            if src is None or src not in ips:
                continue
            port, qrow, queue_row = self.holder(qid, bridge, flow["cookie"])
            entries.append(self.entry(qid, port, qrow, queue_row, bridge, flow, src))
        return entries

    def run(self):
        p = self.params
        if not 0 <= p["tolerance"] < 1:     # (NaN fails this too)
            raise NovaopsError("tolerance is a fraction from 0 up to (not including) 1, not %s." % p["tolerance"])
        if p["bridge"] and self.ovs.bridge(p["bridge"]) is None:
            raise NovaopsError("There is no Open vSwitch bridge named %s." % p["bridge"])
        if p["ip"]:
            addr = parse_ip(p["ip"])
            bridges = [p["bridge"]] if p["bridge"] else self.ovs.list_bridges()
            entries = self.by_ips([addr], bridges)
            return self.summary(entries, dict(ip=str(addr)))
        port = p["port"]
        if p["interface"]:
            irow = self.ovs.interface(p["interface"])
            if irow is None:
                raise NovaopsError("There is no Open vSwitch interface named %s." % p["interface"])
            owners = [r for r in self.ovs.list("Port", columns=["name", "interfaces"])
                      if irow["_uuid"] in as_list(r.get("interfaces"))]
            if not owners:
                raise NovaopsError("Interface %s belongs to no port." % p["interface"])
            port = owners[0]["name"]
        prow = self.ovs.port(port)
        if prow is None:
            raise NovaopsError("There is no Open vSwitch port named %s." % port)
        bridge = p["bridge"] or self.ovs.port_bridge(port)
        bridges = [bridge] if bridge else []
        qos_uuid = as_one(prow.get("qos"))
        entries = []
        if qos_uuid:
            # The QoS port: every queue, with the flows that use it.
            qrow = self.ovs.get_row("QoS", qos_uuid)
            queues = self.ovs.queues_of_qos(qrow)
            flows = [f for f in self.queue_flows(bridges) if f[2] in queues]
            for qid, queue_row in sorted(queues.items()):
                used = [f for f in flows if f[2] == qid]
                for fbridge, flow, _qid, src in used:
                    entries.append(self.entry(qid, port, qrow, queue_row, fbridge, flow, src))
                if not used:
                    entries.append(self.entry(qid, port, qrow, queue_row))
        else:
            # A VIF port: its addresses from its own in_port flows, then the queue flows of those.
            ips = self.vif_addresses(port, bridges)
            entries = self.by_ips(ips, bridges) if ips else []
        return self.summary(entries, dict(port=port, bridge=bridge))

    def vif_addresses(self, port, bridges):
        irows = [self.ovs.get_row("Interface", u) for u in as_list(self.ovs.port(port).get("interfaces"))]
        ofports = set(str(r.get("ofport")) for r in irows if r)
        ips = []
        for bridge in bridges:
            for flow in self.ovs.dump_flows(bridge):
                fields = flow["match_fields"]
                if str(fields.get("in_port")) not in ofports or flow["actions"].lower() == "drop":
                    continue
                for key in ("nw_src", "ipv6_src", "arp_spa"):
                    value = fields.get(key)
                    if value and value is not True and "/" not in value:
                        try:
                            addr = parse_ip(value)
                        except NovaopsError:
                            continue
                        if addr not in ips:
                            ips.append(addr)
        return ips

    @staticmethod
    def summary(entries, extra):
        one = entries[0] if len(entries) == 1 else None
        qids = set(e["queue_id"] for e in entries)
        result = dict(changed=False, queues=entries, found=bool(entries),
                      agree=bool(entries) and all(e["agree"] for e in entries),
                      queue_id=qids.pop() if len(qids) == 1 else None,
                      max_rate=one["max_rate"] if one else None)
        result.update(extra)
        return result


def _close(a, b, tolerance):
    if a is None or b is None:
        return False
    return abs(a - b) <= max(8, tolerance * max(abs(a), abs(b)))


def main():
    run_on_ovs(argument_spec(), QueueInfo, step="run")


if __name__ == "__main__":
    main()

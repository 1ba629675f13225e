#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovs_qos_queue
short_description: QoS and queues on an Open vSwitch port, with the flows that steer traffic into them
version_added: "0.1.0"
description:
  - Manages the QoS row of an Open vSwitch port (type V(linux-htb) by default) with its
    C(max-rate), and the Queue rows of that QoS by queue id, each with C(max-rate),
    C(min-rate), C(burst) and C(priority) - the way Nova and XenServer rate-limit an
    instance's VIF.
  - Optionally manages the flows on a bridge that send a source IP's traffic to a queue
    (C(ip,nw_src=<ip> actions=set_queue:<id>,normal)).
  - Every change to OVSDB is a single C(ovs-vsctl) transaction; the flows of one run are
    changed in one atomic OpenFlow bundle. Reads use C(ovs-vsctl --format=json).
  - O(state=absent) removes the listed queues, or the whole QoS when no queue is listed,
    together with their flows, and leaves no orphan QoS or Queue rows.
author: novaops.compute maintainers (@novaops)
requirements:
  - Open vSwitch (C(ovs-vsctl), C(ovs-ofctl)) on the managed node
  - netaddr (when O(queues[].source_ips) is used)
attributes:
  check_mode:
    support: full
    description: Reports the actions it would take and the QoS it would leave, and changes nothing.
  diff_mode:
    support: full
    description: Shows the QoS, its queues and their source IPs before and after.
options:
  port:
    description:
      - Name of the Open vSwitch port that carries the QoS (for a Nova host, the physical port).
    type: str
    required: true
  bridge:
    description:
      - Bridge on which the queue flows of O(queues[].source_ips) live.
      - Defaults to the bridge of O(port).
    type: str
  type:
    description:
      - The QoS type. Only V(linux-htb) and V(linux-hfsc) have queues.
    type: str
    default: linux-htb
    choices: [linux-htb, linux-hfsc, linux-sfq, linux-codel, linux-fq_codel, linux-noop, egress-policer]
  max_rate:
    description:
      - The QoS C(other_config:max-rate) in bits per second (the root class's rate).
      - Left as it is when not given.
    type: int
  queues:
    description:
      - Queues by id. Keys not given are left as they are.
      - With O(state=absent), only C(id) matters; those queues are removed.
    type: list
    elements: dict
    suboptions:
      id:
        description:
          - The queue id, 0 to 4294967295 for OVSDB; V(linux-htb) and V(linux-hfsc) make the kernel
            class C(1:<hex(id+1)>) for it and accept only 0 to 61439.
        type: int
        required: true
      max_rate:
        description: C(other_config:max-rate), bits per second (the class's C(ceil)).
        type: int
      min_rate:
        description: C(other_config:min-rate), bits per second (the class's C(rate)).
        type: int
      burst:
        description: C(other_config:burst), bits.
        type: int
      priority:
        description: C(other_config:priority), lower is served first.
        type: int
      source_ips:
        description:
          - Source IP addresses whose traffic goes to this queue, as flows
            C(ip,nw_src=<ip> actions=set_queue:<id>,normal) on O(bridge).
          - The flows of this queue are made exactly these; V([]) removes them; omitted leaves them.
        type: list
        elements: str
  purge_queues:
    description:
      - With O(state=present), remove queues (and their flows) that O(queues) does not list.
    type: bool
    default: false
  flow_table:
    description:
      - OpenFlow table of the queue flows. With a table other than 0, a C(priority=0 actions=NORMAL)
        flow is ensured in it.
      - With VIFs that have anti-spoofing flows (M(novaops.compute.ovs_vif)), use the table given
        there as O(novaops.compute.ovs_vif#module:next_table), so that only traffic the VIF may send
        reaches the queue flows.
    type: int
    default: 0
  flow_priority:
    description: Priority of the queue flows.
    type: int
    default: 100
  state:
    description:
      - V(present) makes the QoS and queues as described; V(absent) removes the listed queues,
        or the port's whole QoS when O(queues) is not given.
    type: str
    default: present
    choices: [present, absent]
  timeout:
    description: Seconds C(ovs-vsctl) waits for the database (its C(--timeout)).
    type: int
    default: 10
notes:
  - Rates are in bits per second, as in OVSDB. The kernel shows a queue of max-rate 614400000
    as C(ceil 614400Kbit) on class C(1:<hex(id+1)>).
  - Flows carry a cookie whose upper 32 bits name the port and lower 32 bits the queue id,
    so that removing a queue removes exactly its flows.
seealso:
  - module: novaops.compute.ovs_qos_queue_info
  - module: novaops.compute.ovs_vif
"""

EXAMPLES = r"""
- name: Rate-limit an instance's traffic to 600 Mbit/s on the physical port
  novaops.compute.ovs_qos_queue:
    port: eth1
    bridge: br-int
    max_rate: 1000000000
    queues:
      - id: 13947
        max_rate: 614400000
        source_ips: [10.0.0.5]

- name: Remove that instance's queue and its flow
  novaops.compute.ovs_qos_queue:
    port: eth1
    bridge: br-int
    queues:
      - id: 13947
    state: absent

- name: Remove the whole QoS from the port
  novaops.compute.ovs_qos_queue:
    port: eth1
    state: absent
"""

RETURN = r"""
qos:
  description: The port's QoS after the run (expected QoS in check mode); null when it has none.
  returned: always
  type: dict
  contains:
    uuid:
      description: UUID of the QoS row (null for a row check mode would create).
      type: str
      sample: 45f21569-94e3-4dae-8f94-b8353bf3b414
    type:
      description: The QoS type.
      type: str
      sample: linux-htb
    max_rate:
      description: C(other_config:max-rate), bits per second, or null.
      type: int
      sample: 1000000000
    queues:
      description:
        - The queues by id (as strings, JSON keys), each with C(uuid), C(max_rate), C(min_rate), C(burst),
          C(priority), C(tc_class) and C(source_ips).
        - C(source_ips) is null when the run did not manage flows (no O(queues[].source_ips), no
          O(purge_queues)) and so did not read them.
      type: dict
      sample: {"13947": {"uuid": "01094736-ddb8-46ba-9e4d-147913faec5a", "max_rate": 614400000,
               "min_rate": null, "burst": null, "priority": null, "source_ips": ["10.0.0.5"],
               "tc_class": "1:367c"}}
  sample: {"uuid": "45f21569-94e3-4dae-8f94-b8353bf3b414", "type": "linux-htb", "max_rate": 1000000000, "queues": {}}
port:
  description: The port.
  returned: always
  type: str
  sample: eth1
bridge:
  description: The bridge of the queue flows.
  returned: always
  type: str
  sample: br-int
actions:
  description: Names of what was (or in check mode would be) done; empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [ovsdb_transaction, flows_bundle]
changes:
  description: One line per change, in the order applied.
  returned: always
  type: list
  elements: str
  sample: ["create QoS linux-htb on nt-q1", "create queue 13947", "flows of queue 13947: 10.0.0.5"]
duration:
  description: Seconds the module took.
  returned: always
  type: float
  sample: 0.12
"""

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.ovs.module_main import run_on_ovs
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import as_list, as_one
from ansible_collections.novaops.compute.plugins.module_utils.ovs.tc import (
    KERNEL_QOS_TYPES, KERNEL_QUEUE_ID_MAX, QUEUE_ID_MAX, htb_class_id,
)
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager

QUEUE_KEYS = (("max_rate", "max-rate"), ("min_rate", "min-rate"), ("burst", "burst"), ("priority", "priority"))
QUEUE_TYPES = ("linux-htb", "linux-hfsc")

# The change planning (qos_queue_plan.py), the flow helpers (queue_flows.py, openflow.py, addresses.py) and
# the OVSDB transaction builder are imported where changes or flows are handled: every module_util a module
# imports is compiled (twice, by Python's zipimport) from the AnsiballZ zip on each run, and a no-change run
# without source_ips, purge or removal needs none of them.


def argument_spec():
    return ArgumentSpec(dict(
        port=dict(type="str", required=True),
        bridge=dict(type="str"),
        type=dict(type="str", default="linux-htb",
                  choices=["linux-htb", "linux-hfsc", "linux-sfq", "linux-codel", "linux-fq_codel",
                           "linux-noop", "egress-policer"]),
        max_rate=dict(type="int"),
        queues=dict(type="list", elements="dict", options=dict(
            id=dict(type="int", required=True),
            max_rate=dict(type="int"),
            min_rate=dict(type="int"),
            burst=dict(type="int"),
            priority=dict(type="int"),
            source_ips=dict(type="list", elements="str"),
        )),
        purge_queues=dict(type="bool", default=False),
        flow_priority=dict(type="int", default=100),
        flow_table=dict(type="int", default=0),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        timeout=dict(type="int", default=10),
    ), input_rules={"max_rate": rules.AMOUNT, "queues.max_rate": rules.AMOUNT, "queues.min_rate": rules.AMOUNT,
                    "queues.burst": rules.AMOUNT, "flow_priority": rules.Between(0, 65535),
                    "flow_table": rules.Between(0, 254), "timeout": rules.SECONDS_AT_LEAST_ONE})


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class QoSQueues(Manager):
    """A port's QoS and queues (and their flows); the change planning is in ovs/qos_queue_plan.py."""

    QUEUE_KEYS = QUEUE_KEYS

    def __init__(self, module, ovs):
        super().__init__(module)
        self.ovs = ovs
        self.port = self.params["port"]
        self.changes = []
        self.wanted = self._validate()
        self.bridge = None
        self.raw = None
        self._txn = None

    @property
    def prefix(self):
        """The upper 32 bits of this port's queue flow cookies."""
        from ansible_collections.novaops.compute.plugins.module_utils.ovs.queue_flows import qos_cookie_prefix
        return qos_cookie_prefix(self.port)

    @property
    def txn(self):
        """The run's one OVSDB transaction, made when the plan first needs a change."""
        if self._txn is None:
            self._txn = self.ovs.transaction()
        return self._txn

    @property
    def pending_txn(self):
        """The transaction planned so far, or None when the plan changes nothing in OVSDB."""
        return self._txn

    # -- input ---------------------------------------------------------------------------
    def _validate(self):
        p = self.params
        if p["max_rate"] is not None and p["max_rate"] <= 0:
            raise NovaopsError("max_rate must be a positive number of bits per second, not %s." % p["max_rate"])
        queues = {}
        owner = {}
        for q in p["queues"] or []:
            qid = q["id"]
            if not 0 <= qid <= QUEUE_ID_MAX:
                raise NovaopsError("Queue id %s is out of range: OVS queue ids are 0 to %d." % (qid, QUEUE_ID_MAX))
            if p["state"] == "present" and p["type"] in KERNEL_QOS_TYPES and qid > KERNEL_QUEUE_ID_MAX:
                raise NovaopsError(
                    "Queue id %s is out of range for %s: the kernel class is 1:<hex(id+1)>, and Open vSwitch "
                    "configures only queue ids 0 to %d on this type." % (qid, p["type"], KERNEL_QUEUE_ID_MAX))
            if p["state"] == "present" and p["type"] not in QUEUE_TYPES:
                raise NovaopsError("QoS type %s has no queues; use linux-htb or linux-hfsc for queue %s."
                                   % (p["type"], qid))
            if qid in queues:
                raise NovaopsError("Queue id %s is listed twice." % qid)
            for key, _ovs_key in QUEUE_KEYS:
                value = q.get(key)
                if value is None:
                    continue
                if key == "priority":
                    if not 0 <= value <= 4294967295:
                        raise NovaopsError("Queue %s: priority must be between 0 and 4294967295, not %s." % (qid, value))
                elif value < 0 or (key != "burst" and value == 0):
                    raise NovaopsError("Queue %s: %s must be a positive number of bits per second, not %s."
                                       % (qid, key, value))
            if q.get("max_rate") is not None and q.get("min_rate") is not None and q["min_rate"] > q["max_rate"]:
                raise NovaopsError("Queue %s: min_rate %s is above max_rate %s." % (qid, q["min_rate"], q["max_rate"]))
            ips = None
            if q.get("source_ips") is not None:
                from ansible_collections.novaops.compute.plugins.module_utils.ovs.addresses import parse_ip
                ips = []
                for text in q["source_ips"]:
                    addr = parse_ip(text, what="Source IP of queue %s:" % qid)
                    if addr in owner and owner[addr] != qid:
                        raise NovaopsError("Source IP %s is listed for queues %s and %s; a source goes to one queue."
                                           % (addr, owner[addr], qid))
                    owner[addr] = qid
                    if addr not in ips:
                        ips.append(addr)
            queues[qid] = dict((key, q.get(key)) for key, _k in QUEUE_KEYS)
            queues[qid]["source_ips"] = ips
        return queues

    # -- read ----------------------------------------------------------------------------
    def read(self):
        p = self.params
        # One ovs-vsctl call reads the port, the bridges, the port's QoS (ovs-vsctl names a QoS row by the
        # port that uses it) and the Queue table.
        ports, bridges, qos_rows, queue_rows = self.ovs.list_many([
            ("Port", self.port, ["name", "qos"]), ("Bridge", None, ["name", "ports"]),
            ("QoS", self.port, ["type", "other_config", "queues"]), ("Queue", None, ["other_config"])])
        prow = ports[0] if ports else None
        owner = None
        if prow is not None:
            owner = next((b["name"] for b in bridges if prow["_uuid"] in as_list(b.get("ports"))), None)
        if p["bridge"] and not any(b["name"] == p["bridge"] for b in bridges):
            raise NovaopsError("There is no Open vSwitch bridge named %s (for the queue flows)." % p["bridge"])
        self.bridge = p["bridge"] or owner
        raw = dict(port=prow, qos=None, queues={}, flows=[], flows_read=False)
        if prow is not None:
            qos_uuid = as_one(prow.get("qos"))
            raw["qos"] = next((r for r in qos_rows if r["_uuid"] == qos_uuid), None) if qos_uuid else None
            if raw["qos"] is not None:
                by_uuid = dict((r["_uuid"], r) for r in queue_rows)
                raw["queues"] = dict((int(k), by_uuid.get(v, {"_uuid": v}))
                                     for k, v in (raw["qos"].get("queues") or {}).items())
        # Flows are read only when this run manages them.
        wants_flows = p["state"] == "absent" or p["purge_queues"] or \
            any(q["source_ips"] is not None for q in self.wanted.values())
        if self.bridge and wants_flows:
            from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import cookie_mask
            raw["flows"] = self.ovs.dump_flows(self.bridge, "cookie=%s" % cookie_mask(self.prefix))
            raw["flows_read"] = True
        self.raw = raw
        return self._facts(raw)

    def _facts(self, raw):
        flows_by_queue = {}
        if raw["flows"]:
            flows_by_queue = self._sources_by_queue(raw["flows"])
        qos = None
        if raw["qos"] is not None:
            row = raw["qos"]
            queues = {}
            for qid, qrow in sorted(raw["queues"].items()):
                oc = qrow.get("other_config") or {}
                entry = dict(uuid=qrow.get("_uuid"))
                for key, ovs_key in QUEUE_KEYS:
                    entry[key] = _int_or_none(oc.get(ovs_key))
                entry["source_ips"] = sorted(flows_by_queue.pop(qid, [])) if raw["flows_read"] else None
                entry["tc_class"] = htb_class_id(qid) if row.get("type") in KERNEL_QOS_TYPES else None
                queues[str(qid)] = entry
            qos = dict(uuid=row["_uuid"], type=row.get("type"),
                       max_rate=_int_or_none((row.get("other_config") or {}).get("max-rate")),
                       queues=queues)
        stray = dict((str(k), sorted(v)) for k, v in flows_by_queue.items())
        return dict(port=self.port, bridge=self.bridge, qos=qos, stray_flows=stray)

    @staticmethod
    def _sources_by_queue(flows):
        """{queue id: [source IP]} of the queue flows read."""
        from ansible_collections.novaops.compute.plugins.module_utils.ovs.queue_flows import (
            queue_of_actions, source_of_match,
        )
        sources = {}
        for flow in flows:
            qid = queue_of_actions(flow["actions"])
            addr = source_of_match(flow["match_fields"])
            if qid is not None and addr is not None:
                sources.setdefault(qid, []).append(str(addr))
        return sources

    # -- plan ----------------------------------------------------------------------------
    def plan(self, before, plan):
        if self.params["state"] == "present" and self.unchanged(before):
            return before
        from ansible_collections.novaops.compute.plugins.module_utils.ovs import qos_queue_plan
        if self.params["state"] == "absent":
            return qos_queue_plan.plan_absent(self, before, plan)
        return qos_queue_plan.plan_present(self, before, plan)

    def unchanged(self, before):
        """True when the port's QoS already is as asked and this run leaves the flows alone: the run plans
        nothing, without loading the planner (qos_queue_plan.plan_present decides every other case)."""
        p = self.params
        qos = before["qos"]
        if self.raw["port"] is None or qos is None or self.raw["flows_read"] or p["purge_queues"] or \
                any(q["source_ips"] is not None for q in self.wanted.values()):
            return False
        if qos["type"] != p["type"] or (p["max_rate"] is not None and qos["max_rate"] != p["max_rate"]):
            return False
        return all(str(qid) in qos["queues"] and not self.queue_config(want, qos["queues"][str(qid)])
                   for qid, want in self.wanted.items())

    def queue_config(self, want, current=None):
        current = current or {}
        config = {}
        for key, ovs_key in QUEUE_KEYS:
            if want.get(key) is not None and want[key] != current.get(key):
                config[ovs_key] = str(want[key])
        return config

    def result(self, facts):
        return dict(qos=facts["qos"], port=facts["port"], bridge=facts["bridge"], changes=self.changes)

    def diff_view(self, facts):
        if not facts or facts.get("qos") is None:
            return {}
        qos = facts["qos"]
        return dict(type=qos["type"], max_rate=qos["max_rate"], queues=dict(
            (qid, dict((k, v) for k, v in q.items() if k != "uuid")) for qid, q in qos["queues"].items()))


def main():
    run_on_ovs(argument_spec(), QoSQueues)


if __name__ == "__main__":
    main()

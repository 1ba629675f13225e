# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The changes ovs_qos_queue plans: one OVSDB transaction (QoS, queues) and one flow bundle (the queue flows).

Loaded only by a run that may change something: every module_util a module imports is compiled (twice, by
Python's zipimport) from the AnsiballZ zip on each run, and ovs_qos_queue's no-change run stops at
QoSQueues.unchanged().  Each function takes the module's manager (QoSQueues: params, raw, wanted, txn,
changes) and, like Manager.plan(), returns the facts expected after the plan.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import as_list
from ansible_collections.novaops.compute.plugins.module_utils.ovs.tc import KERNEL_QOS_TYPES, htb_class_id


def references(mgr, table, column, uuid, exclude):
    """Rows of table other than exclude whose column refers to uuid."""
    count = 0
    for row in mgr.ovs.list(table, columns=[column]):
        if row["_uuid"] == exclude:
            continue
        value = row.get(column)
        values = value.values() if isinstance(value, dict) else as_list(value)
        if uuid in values:
            count += 1
    return count


def plan_present(mgr, before, plan):
    """state=present: the QoS (created or set), its queues (created, set, purged) and their flows, planned."""
    p = mgr.params
    if mgr.raw["port"] is None:
        raise NovaopsError("There is no Open vSwitch port named %s." % mgr.port)
    wanted_flows = any(q["source_ips"] is not None for q in mgr.wanted.values())
    if wanted_flows and not mgr.bridge:
        raise NovaopsError("Port %s is on no bridge; give bridge for the queue flows." % mgr.port)
    after = dict(before)
    qos = before["qos"]
    if qos is None:
        other = {"max-rate": str(p["max_rate"])} if p["max_rate"] else {}
        queue_refs = {}
        exp_queues = {}
        for qid, want in sorted(mgr.wanted.items()):
            queue_refs[qid] = mgr.txn.create("Queue", name="q%d" % qid, other_config=mgr.queue_config(want))
            exp_queues[str(qid)] = expected_queue(mgr, qid, want, {}, p["type"])
            mgr.changes.append("create queue %s" % qid)
        columns = dict(type=p["type"])
        if other:
            columns["other_config"] = other
        if queue_refs:
            columns["queues"] = dict((str(qid), ref) for qid, ref in queue_refs.items())
        ref = mgr.txn.create("QoS", name="qos", **columns)
        mgr.txn.command("set", "Port", mgr.port, "qos=%s" % ref)
        mgr.changes.insert(0, "create QoS %s on %s" % (p["type"], mgr.port))
        after["qos"] = dict(uuid=None, type=p["type"], max_rate=p["max_rate"], queues=exp_queues)
    else:
        qos = dict(qos, queues=dict(qos["queues"]))
        if qos["type"] != p["type"]:
            mgr.txn.command("set", "QoS", qos["uuid"], "type=%s" % p["type"])
            mgr.changes.append("set QoS type %s -> %s" % (qos["type"], p["type"]))
            qos["type"] = p["type"]
        if p["max_rate"] is not None and qos["max_rate"] != p["max_rate"]:
            mgr.txn.set("QoS", qos["uuid"], other_config={"max-rate": str(p["max_rate"])})
            mgr.changes.append("set QoS max-rate %s -> %s" % (qos["max_rate"], p["max_rate"]))
            qos["max_rate"] = p["max_rate"]
        for qid, want in sorted(mgr.wanted.items()):
            current = qos["queues"].get(str(qid))
            if current is None:
                ref = mgr.txn.create("Queue", name="q%d" % qid, other_config=mgr.queue_config(want))
                mgr.txn.command("set", "QoS", qos["uuid"], "queues:%d=%s" % (qid, ref))
                mgr.changes.append("create queue %s" % qid)
                qos["queues"][str(qid)] = expected_queue(mgr, qid, want, {}, p["type"])
            else:
                config = mgr.queue_config(want, current)
                if config:
                    mgr.txn.set("Queue", current["uuid"], other_config=config)
                    mgr.changes.append("set queue %s %s" % (qid, ", ".join(
                        "%s=%s" % kv for kv in sorted(config.items()))))
                    qos["queues"][str(qid)] = expected_queue(mgr, qid, want, current, p["type"])
        if p["purge_queues"]:
            for key in sorted(qos["queues"], key=int):
                if int(key) not in mgr.wanted:
                    remove_queue(mgr, qos, key)
        after["qos"] = qos
    if mgr.pending_txn:
        plan.add("ovsdb_transaction", mgr.pending_txn.commit)
    plan_flows(mgr, after, plan, purge=p["purge_queues"])
    return after


def expected_queue(mgr, qid, want, current, qos_type):
    """A queue's facts once the plan has set it as wanted."""
    entry = dict(uuid=current.get("uuid"))
    for key, _k in mgr.QUEUE_KEYS:
        entry[key] = want[key] if want.get(key) is not None else current.get(key)
    entry["source_ips"] = current.get("source_ips", [] if mgr.raw["flows_read"] else None)
    entry["tc_class"] = htb_class_id(qid) if qos_type in KERNEL_QOS_TYPES else None
    return entry


def remove_queue(mgr, qos, key):
    """A queue out of the QoS, and its Queue row destroyed when no other QoS refers to it."""
    current = qos["queues"].pop(key)
    mgr.txn.remove("QoS", qos["uuid"], "queues", key)
    if current.get("uuid") and not references(mgr, "QoS", "queues", current["uuid"], qos["uuid"]):
        mgr.txn.destroy("Queue", current["uuid"])
    mgr.changes.append("remove queue %s" % key)


def plan_absent(mgr, before, plan):
    """state=absent: the port's QoS (or only the queues listed) and their flows removed, leaving no orphan row."""
    after = dict(before)
    qos = before["qos"]
    if qos is not None:
        if mgr.params["queues"] is None:
            mgr.txn.clear("Port", mgr.port, "qos")
            if not references(mgr, "Port", "qos", qos["uuid"], mgr.raw["port"]["_uuid"]):
                mgr.txn.destroy("QoS", qos["uuid"])
                for key, queue in sorted(qos["queues"].items()):
                    if queue.get("uuid") and not references(mgr, "QoS", "queues", queue["uuid"], qos["uuid"]):
                        mgr.txn.destroy("Queue", queue["uuid"])
            mgr.changes.append("remove QoS %s from %s" % (qos["type"], mgr.port))
            after["qos"] = None
        else:
            qos = dict(qos, queues=dict(qos["queues"]))
            for qid in sorted(mgr.wanted):
                if str(qid) in qos["queues"]:
                    remove_queue(mgr, qos, str(qid))
            after["qos"] = qos
    if mgr.pending_txn:
        plan.add("ovsdb_transaction", mgr.pending_txn.commit)
    # flows
    if mgr.bridge:
        from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import cookie_mask
        from ansible_collections.novaops.compute.plugins.module_utils.ovs.queue_flows import queue_of_actions
        delete = []
        if mgr.params["queues"] is None:
            if mgr.raw["flows"]:
                delete.append("cookie=%s" % cookie_mask(mgr.prefix))
                mgr.changes.append("remove all queue flows of %s" % mgr.port)
        else:
            present = set(queue_of_actions(f["actions"]) for f in mgr.raw["flows"])
            for qid in sorted(mgr.wanted):
                if qid in present:
                    delete.append("cookie=0x%x/-1" % ((mgr.prefix << 32) | qid))
                    mgr.changes.append("remove flows of queue %s" % qid)
        if delete:
            plan.add("flows_bundle", mgr.ovs.apply_flows, mgr.bridge, delete=delete)
        after["stray_flows"] = {}
    return after


def plan_flows(mgr, after, plan, purge):
    """The queue flows of the queues with source_ips (and, with purge, the flows of queues not listed) as one bundle."""
    if not mgr.raw["flows_read"]:  # no source_ips and no purge: this run leaves the flows alone
        return
    from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import table_default_flow
    from ansible_collections.novaops.compute.plugins.module_utils.ovs.queue_flows import (
        queue_flow, queue_of_actions, source_of_match,
    )
    current = {}
    for flow in mgr.raw["flows"]:
        qid = queue_of_actions(flow["actions"])
        addr = source_of_match(flow["match_fields"])
        current.setdefault(qid, []).append((addr, flow["priority"], flow["table"]))
    delete, add = [], []
    qos_queues = (after["qos"] or {}).get("queues", {})
    for qid, want in sorted(mgr.wanted.items()):
        if want["source_ips"] is None:
            continue
        have = current.get(qid, [])
        wanted = [(a, mgr.params["flow_priority"], mgr.params["flow_table"]) for a in want["source_ips"]]
        if sorted(have, key=str) != sorted(wanted, key=str):
            if have:
                delete.append("cookie=0x%x/-1" % ((mgr.prefix << 32) | qid))
            add.extend(queue_flow(mgr.port, qid, a, mgr.params["flow_priority"], mgr.params["flow_table"])
                       for a in want["source_ips"])
            mgr.changes.append("flows of queue %s: %s" % (qid, ", ".join(str(a) for a in want["source_ips"]) or "none"))
        if str(qid) in qos_queues:
            qos_queues[str(qid)]["source_ips"] = sorted(str(a) for a in want["source_ips"])
    if purge:
        for qid in sorted(k for k in current if k is not None and k not in mgr.wanted):
            delete.append("cookie=0x%x/-1" % ((mgr.prefix << 32) | qid))
            mgr.changes.append("remove flows of queue %s" % qid)
    if add and mgr.params["flow_table"]:
        cookie, spec = table_default_flow(mgr.params["flow_table"])
        if not mgr.ovs.dump_flows(mgr.bridge, "cookie=0x%x/-1" % cookie):
            add.append(spec)
    if delete or add:
        plan.add("flows_bundle", mgr.ovs.apply_flows, mgr.bridge, delete=delete, add=add)

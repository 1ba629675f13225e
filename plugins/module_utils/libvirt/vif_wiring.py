# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A running instance's VIF on Open vSwitch, kept as Nova's plug_vifs left it.

What one OVS VIF of an active domain needs:

- its port on its bridge, with the interface ``external_ids`` libvirt sets when it plugs
  a ``virtualport type='openvswitch'`` tap (iface-id, iface-status, attached-mac, vm-id);
- optionally the anti-spoofing flows ``ovs_vif`` installs (``ovs_flows.vif_flows``: the
  tap's name in the cookie, its ofport in the match);
- optionally its rate limit as ``ovs_qos_queue`` makes it: a queue with ``max-rate`` in
  the linux-htb QoS of the uplink port, and the flows ``nw_src=<ip>
  actions=set_queue:<id>,normal`` (the same cookies, so ``ovs_qos_queue_info`` traces it).

``read()`` compares what is there with that; ``plug()``, ``apply_flows()`` and
``apply_queue()`` re-apply a missing part and read again when they run, because a start
or a re-plug can give the port another ofport.  ``unwire()`` removes the flows and the
queue of an instance that is gone.
"""

from __future__ import annotations

import os
import re
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.common.mac_address import unicast_mac
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import cookie_mask, table_default_flow
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import as_list, as_one, check_device_name
from ansible_collections.novaops.compute.plugins.module_utils.ovs.tc import KERNEL_QOS_TYPES
from ansible_collections.novaops.compute.plugins.module_utils.ovs.addresses import parse_ip, parse_mac
from ansible_collections.novaops.compute.plugins.module_utils.ovs.queue_flows import (
    qos_cookie_prefix, queue_flow, queue_of_actions, source_of_match,
)
from ansible_collections.novaops.compute.plugins.module_utils.ovs.vif_flows import vif_cookie_prefix, vif_flows

QUEUE_FLOW_PRIORITY = 100
# With anti-spoofing flows in table 0, the queue flows go to a later table (ovs_vif's
# next_table): a queue flow in table 0 would match first and let spoofed traffic through.
DEFAULT_QUEUE_TABLE_AFTER_FILTER = 1


def tap_name(port_id):
    """Nova's devname: 'tap' and the first 11 characters of the port ID (15-byte IFNAMSIZ)."""
    return ("tap" + port_id)[:14]


def queue_table(vif):
    qos = vif.get("qos") or {}
    if qos.get("flow_table") is not None:
        return qos["flow_table"]
    return DEFAULT_QUEUE_TABLE_AFTER_FILTER if vif.get("anti_spoofing") else 0


# libvirt's own rule for an interface model name (NET_MODEL_CHARS); not starting with '-', which
# QEMU would read as an option
MODEL_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")


def check_vif(vif):
    """Refuse a VIF whose definition or wiring cannot be made, before anything is touched."""
    label = vif.get("id") or vif.get("mac")
    if vif.get("bridge") is not None:
        check_device_name(vif["bridge"], "bridge")
    unicast_mac(vif["mac"], "VIF %s: MAC address" % label)
    if vif.get("model") is not None and not MODEL_RE.match(str(vif["model"])):
        raise NovaopsError("VIF %s: model %r is not a device model name (letters, digits, '_' and '-')."
                           % (label, str(vif.get("model"))[:40]))
    if vif.get("type") == "ovs" and vif.get("id"):
        check_uuid(vif["id"])    # libvirt's openvswitch interfaceid is a UUID (Neutron's port id)
    if vif.get("mtu") is not None and not 68 <= vif["mtu"] <= 65535:
        raise NovaopsError("VIF %s: mtu must be 68 to 65535 (IPv4's least to the largest frame), not %s."
                           % (label, vif["mtu"]))
    wired = vif.get("anti_spoofing") or vif.get("qos")
    if wired and (vif.get("type") != "ovs" or not vif.get("dev")):
        raise NovaopsError("VIF %s: anti_spoofing and qos need an OVS VIF with an id (its tap is named after it)."
                           % label)
    for text in vif.get("ips") or []:
        parse_ip(text, what="VIF %s address" % label)
    if wired:
        parse_mac(vif["mac"])     # (netaddr is loaded only for VIFs that need it)
    qos = vif.get("qos")
    if qos:
        if not 0 <= int(qos["queue_id"]) <= 0xf000 - 1:
            raise NovaopsError("VIF %s: queue_id %s is out of range; linux-htb configures queues 0 to 61439."
                               % (label, qos["queue_id"]))
        if int(qos["max_rate"]) <= 0:
            raise NovaopsError("VIF %s: max_rate must be a positive number of bits per second, not %s."
                               % (label, qos["max_rate"]))
        table = queue_table(vif)
        if not 0 <= table <= 254 or (vif.get("anti_spoofing") and table == 0):
            raise NovaopsError("VIF %s: the queue flow table must be 1 to 254 with anti_spoofing (0 to 254 "
                               "without), not %s." % (label, table))
        if not vif.get("ips"):
            raise NovaopsError("VIF %s: qos needs the VIF's ips (its queue flows match them)." % label)


class VifWiring:
    """One OVS VIF of an active domain: ``vif`` is the desired VIF (id, mac, bridge, dev, ips,
    anti_spoofing, qos {port, queue_id, max_rate, flow_table})."""

    def __init__(self, ovs, vif, vm_uuid, timeout=10, sys_class_net="/sys/class/net"):
        self.ovs = ovs
        self.vif = vif
        self.vm_uuid = vm_uuid
        self.port = vif["dev"]
        self.bridge = vif["bridge"]
        self.mac = parse_mac(vif["mac"])
        self.ips = [parse_ip(a) for a in vif.get("ips") or []]
        self.qos = vif.get("qos")
        self.table = queue_table(vif)
        self.timeout = timeout
        self.sys_class_net = sys_class_net

    # -- reading ---------------------------------------------------------------------------
    def external_ids(self):
        return {"iface-id": self.vif["id"], "iface-status": "active", "attached-mac": self.mac,
                "vm-id": self.vm_uuid}

    def _rows(self):
        queries = [("Interface", self.port, ["name", "ofport", "external_ids"]),
                   ("Bridge", self.bridge, ["name", "ports"]), ("Port", self.port, ["name"])]
        if self.qos:
            queries += [("Port", self.qos["port"], ["name", "qos"]), ("QoS", None, ["type", "queues"]),
                        ("Queue", None, ["other_config"])]
        found = self.ovs.list_many(queries)
        if not found[1]:
            raise NovaopsError("There is no Open vSwitch bridge named %s (VIF %s)." % (self.bridge, self.vif["id"]))
        rows = dict(interface=found[0][0] if found[0] else None, bridge=found[1][0],
                    port=found[2][0] if found[2] else None)
        if self.qos:
            rows.update(uplink=found[3][0] if found[3] else None, qos_rows=found[4], queue_rows=found[5])
        return rows

    def read(self):
        """{plugged, ofport, flows, queue}: flows and queue are None when not managed, else whether as wanted."""
        rows = self._rows()
        plugged = rows["port"] is not None and rows["port"]["_uuid"] in as_list(rows["bridge"].get("ports"))
        ofport = self._ofport(rows["interface"]) if plugged else None
        facts = dict(plugged=plugged, ofport=ofport, flows=None, queue=None)
        if self.vif.get("anti_spoofing"):
            facts["flows"] = ofport is not None and self._flows_as_wanted(ofport)
        if self.qos:
            qos, queue = self._queue_rows(rows)
            facts["queue"] = bool(queue) and self._queue_config_as_wanted(queue) and self._queue_flows_as_wanted() \
                and qos.get("type") in KERNEL_QOS_TYPES
        return facts

    @staticmethod
    def _ofport(irow):
        ofport = as_one((irow or {}).get("ofport"))
        return ofport if isinstance(ofport, int) and ofport > 0 else None

    def _wanted_vif_flows(self, ofport):
        return vif_flows(self.port, ofport, self.mac, self.ips,
                         next_table=self.table if self.qos and self.table else None)

    def _flows_as_wanted(self, ofport):
        cookie, specs = self._wanted_vif_flows(ofport)
        flows = self.ovs.dump_flows(self.bridge, "cookie=%s" % cookie_mask(vif_cookie_prefix(self.port)))
        return set(f["cookie"] for f in flows) == {cookie} and len(flows) == len(specs)

    def _queue_rows(self, rows):
        uplink = rows["uplink"]
        if uplink is None:
            raise NovaopsError("There is no Open vSwitch port named %s (the qos port of VIF %s)." % (
                self.qos["port"], self.vif["id"]))
        qos_uuid = as_one(uplink.get("qos"))
        qos = next((r for r in rows["qos_rows"] if r["_uuid"] == qos_uuid), None) if qos_uuid else None
        if qos is None:
            return None, None
        if qos.get("type") not in KERNEL_QOS_TYPES:
            raise NovaopsError("Port %s has a QoS of type %s, which has no queues; VIF %s needs linux-htb." % (
                self.qos["port"], qos.get("type"), self.vif["id"]))
        queues = dict((int(k), v) for k, v in (qos.get("queues") or {}).items())   # OVSDB's keys are integers
        queue_uuid = queues.get(int(self.qos["queue_id"]))
        queue = next((r for r in rows["queue_rows"] if r["_uuid"] == queue_uuid), None) if queue_uuid else None
        return qos, queue

    def _queue_config_as_wanted(self, queue):
        return (queue.get("other_config") or {}).get("max-rate") == str(self.qos["max_rate"])

    def _queue_cookie(self):
        return (qos_cookie_prefix(self.qos["port"]) << 32) | int(self.qos["queue_id"])

    def _queue_flows_as_wanted(self):
        flows = self.ovs.dump_flows(self.bridge, "cookie=0x%x/-1" % self._queue_cookie())
        have = sorted((str(source_of_match(f["match_fields"])), f["table"], f["priority"], queue_of_actions(f["actions"]))
                      for f in flows)
        want = sorted((str(a), self.table, QUEUE_FLOW_PRIORITY, int(self.qos["queue_id"])) for a in self.ips)
        return have == want

    # -- applying --------------------------------------------------------------------------
    def plug(self):
        """Put the tap back on its bridge, as libvirt plugged it (Nova's plug_vifs on host start)."""
        if not os.path.exists(os.path.join(self.sys_class_net, self.port)):
            raise NovaopsError("The tap %s of VIF %s is gone; only a hard reboot can re-create it." % (
                self.port, self.vif["id"]))
        txn = self.ovs.transaction()
        txn.command("--may-exist", "add-port", self.bridge, self.port)
        txn.set("Interface", self.port, external_ids=self.external_ids())
        txn.commit()

    def wait_ofport(self):
        deadline = time.monotonic() + self.timeout
        while True:
            irow = self.ovs.get_row("Interface", self.port, columns=["name", "ofport", "error"])
            ofport = self._ofport(irow)
            if ofport is not None:
                return ofport
            if irow and as_one(irow.get("error")):
                raise NovaopsError("Open vSwitch could not open %s: %s" % (self.port, as_one(irow["error"])))
            if time.monotonic() >= deadline:
                raise WaitTimeout("Open vSwitch to give port %s an OpenFlow port number" % self.port, self.timeout)
            time.sleep(0.1)

    def apply_flows(self):
        """The anti-spoofing flows for the port's ofport now, replacing the VIF's old ones in one bundle."""
        ofport = self.wait_ofport()
        if self._flows_as_wanted(ofport):
            return
        _cookie, specs = self._wanted_vif_flows(ofport)
        if self.qos and self.table:
            specs = specs + [table_default_flow(self.table)[1]]
        self.ovs.apply_flows(self.bridge, delete=["cookie=%s" % cookie_mask(vif_cookie_prefix(self.port))], add=specs)

    def apply_queue(self):
        """The VIF's queue in the uplink's linux-htb QoS (made when missing) and its queue flows."""
        rows = self._rows()
        qos, queue = self._queue_rows(rows)
        qid = str(int(self.qos["queue_id"]))
        rate = {"max-rate": str(self.qos["max_rate"])}
        txn = self.ovs.transaction()
        if qos is None:
            ref = txn.create("Queue", other_config=rate)
            qos_ref = txn.create("QoS", type="linux-htb", queues={qid: ref})
            txn.command("set", "Port", self.qos["port"], "qos=%s" % qos_ref)
        elif queue is None:
            ref = txn.create("Queue", other_config=rate)
            txn.command("set", "QoS", qos["_uuid"], "queues:%s=%s" % (qid, ref))
        elif not self._queue_config_as_wanted(queue):
            txn.set("Queue", queue["_uuid"], other_config=rate)
        txn.commit()
        if not self._queue_flows_as_wanted():
            add = [queue_flow(self.qos["port"], int(qid), a, QUEUE_FLOW_PRIORITY, self.table) for a in self.ips]
            if self.table:
                add.append(table_default_flow(self.table)[1])
            self.ovs.apply_flows(self.bridge, delete=["cookie=0x%x/-1" % self._queue_cookie()], add=add)

    def unwire(self):
        """Remove the VIF's flows and its queue (the uplink's QoS stays for the other VIFs)."""
        deletes = []
        if self.vif.get("anti_spoofing"):
            deletes.append("cookie=%s" % cookie_mask(vif_cookie_prefix(self.port)))
        if self.qos:
            deletes.append("cookie=0x%x/-1" % self._queue_cookie())
        if self.ovs.bridge(self.bridge) is None:
            return
        if deletes:
            self.ovs.apply_flows(self.bridge, delete=deletes)
        if self.qos:
            rows = self._rows()
            if rows["uplink"] is None:
                return
            qos, queue = self._queue_rows(rows)
            if queue is not None:
                txn = self.ovs.transaction()
                txn.remove("QoS", qos["_uuid"], "queues", str(int(self.qos["queue_id"])))
                txn.destroy("Queue", queue["_uuid"])
                txn.commit()

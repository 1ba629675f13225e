#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovs_vif
short_description: An instance's VIF port on Open vSwitch, with Nova's external_ids and anti-spoofing flows
version_added: "0.1.0"
description:
  - Plugs a VIF (a tap, a veth end, or an internal port) into an Open vSwitch bridge, with the
    interface C(external_ids) Nova and XenServer set (C(iface-id), C(attached-mac),
    C(vm-uuid), C(iface-status)), in one C(ovs-vsctl) transaction.
  - Installs the anti-spoofing flows of XenServer's C(setup-vif-rules) for the VIF - DHCP out
    allowed; ARP only with the VIF's MAC and its own IPs; IPv4 and IPv6 only from its own
    addresses; neighbour solicitations and advertisements only for its own addresses; router
    advertisements, redirects and the other ICMPv6 router types from the guest dropped;
    everything else it sends dropped - in one atomic OpenFlow bundle.
  - The VIF's flows share a cookie whose upper 32 bits name the port, so that unplugging
    (O(state=absent)) removes exactly them. Addresses are validated with netaddr.
  - When the VIF has come back on another port (a restarted XenServer VM's VIF is dom0's
    C(vif<domid>.<device>), the domid new at every start), the flows it left for its old port -
    those with its MAC whose C(in_port) no port of the bridge has any more - are removed
    (action C(remove_left_behind_flows)).
author: novaops.compute maintainers (@novaops)
requirements:
  - Open vSwitch (C(ovs-vsctl), C(ovs-ofctl)) on the managed node
  - netaddr
attributes:
  check_mode:
    support: full
    description: Reports what it would plug and which flows it would install, and changes nothing.
  diff_mode:
    support: full
    description: Shows the port, its external_ids and its flows before and after.
options:
  port:
    description: Name of the VIF's port (and interface), e.g. the tap device C(tapXXXXXXXX-XX).
    type: str
    required: true
  bridge:
    description:
      - The bridge to plug the VIF into (the integration bridge). Required with O(state=present).
      - With O(state=absent) the port is removed from whichever bridge has it.
    type: str
  interface_type:
    description:
      - The interface type. V(system) needs an existing network device of that name;
        V(internal) makes OVS create one.
    type: str
    default: system
    choices: [system, internal, tap]
  mac:
    description:
      - The VIF's MAC address, set as C(external_ids:attached-mac) and used by the flows.
      - Required when O(anti_spoofing=true) and O(state=present).
    type: str
  ips:
    description: The VIF's IPv4 and IPv6 addresses; its traffic is allowed from these only.
    type: list
    elements: str
    default: []
  iface_id:
    description: C(external_ids:iface-id), the Neutron port id / XenServer VIF uuid.
    type: str
  vm_uuid:
    description: C(external_ids:vm-uuid), the instance's uuid.
    type: str
  iface_status:
    description: C(external_ids:iface-status).
    type: str
    choices: [active, inactive]
  external_ids:
    description: Further interface C(external_ids); keys not given are left as they are.
    type: dict
    default: {}
  anti_spoofing:
    description: Install the anti-spoofing flows. V(false) removes the VIF's flows.
    type: bool
    default: true
  ipv6_link_local:
    description: Also allow the EUI-64 IPv6 link-local address derived from O(mac).
    type: bool
    default: true
  allow_dhcp:
    description: Allow DHCP (and DHCPv6 from the link-local address) out of the VIF.
    type: bool
    default: true
  next_table:
    description:
      - Send the traffic the anti-spoofing flows allow to this OpenFlow table (C(resubmit(,N)))
        instead of to C(NORMAL); a C(priority=0 actions=NORMAL) flow is ensured in that table.
      - Use it with M(novaops.compute.ovs_qos_queue)'s O(novaops.compute.ovs_qos_queue#module:flow_table)
        set to the same table, so that queue flows see only traffic the VIF may send. A queue flow
        in table 0 would match before the anti-spoofing flows and let a spoofed source through.
    type: int
  reserve_ofport:
    description:
      - Plug the port before its network device exists - a live migration's destination, prepared before the
        guest arrives - with an OpenFlow port number reserved for it in the database (C(ofport_request), the
        lowest one no interface has or has asked for), so that its anti-spoofing flows are installed at once and
        match from the first packet. libvirt, when it makes the tap there, adds it to the bridge keeping the
        port's row, and so that number.
      - A port that has a number already keeps it.
    type: bool
    default: false
  state:
    description: V(present) plugs the VIF with its flows; V(absent) removes the port and its flows.
    type: str
    default: present
    choices: [present, absent]
  timeout:
    description:
      - Seconds to wait for the database (C(ovs-vsctl --timeout)) and for OVS to give a new
        port its OpenFlow port number.
    type: int
    default: 10
seealso:
  - module: novaops.compute.ovs_qos_queue
  - module: novaops.compute.ovs_qos_queue_info
"""

EXAMPLES = r"""
- name: Plug an instance's tap into br-int, as Nova does, with anti-spoofing flows
  novaops.compute.ovs_vif:
    bridge: br-int
    port: tap5f1a9c2e-01
    mac: fa:16:3e:5f:1a:9c
    ips: [10.0.0.5, "2001:db8::5"]
    iface_id: 5f1a9c2e-0123-4567-89ab-cdef01234567
    vm_uuid: 0b8e3f7c-2d6a-4c1e-9f4b-7a2d5c3e1f00
    iface_status: active

- name: Unplug it (its flows go with it)
  novaops.compute.ovs_vif:
    port: tap5f1a9c2e-01
    state: absent
"""

RETURN = r"""
vif:
  description: The VIF after the run (as expected, in check mode); null when absent.
  returned: always
  type: dict
  contains:
    bridge:
      description: The bridge the port is on.
      type: str
      sample: br-int
    port:
      description: The port name.
      type: str
      sample: tap5f1a9c2e-01
    interface_type:
      description: The interface type (V(system) for an empty type).
      type: str
      sample: system
    ofport:
      description: The OpenFlow port number (null until OVS gives one).
      type: int
      sample: 3
    ofport_request:
      description: The OpenFlow port number reserved for the port (O(reserve_ofport)), or null.
      type: int
      sample: 3
    external_ids:
      description: The interface's external_ids.
      type: dict
      sample: {"iface-id": "5f1a9c2e-0123-4567-89ab-cdef01234567", "attached-mac": "fa:16:3e:5f:1a:9c"}
    flow_cookie:
      description: The cookie of the VIF's flows (upper half the VIF, lower half the rule set).
      type: str
      sample: "0x8c1e2f3a5d6b7c8d"
    flows:
      description: The VIF's flows, C(priority=<p>,<match> actions=<actions>), sorted.
      type: list
      elements: str
      sample: ["priority=10,in_port=3 actions=drop"]
  sample: {"bridge": "br-int", "port": "tap5f1a9c2e-01", "ofport": 3}
actions:
  description: Names of what was (or would be) done; empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: [plug, flows]
duration:
  description: Seconds the module took.
  returned: always
  type: float
  sample: 0.2
"""

import os
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.ovs.module_main import run_on_ovs
from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import cookie_mask, table_default_flow
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import as_list, as_one, check_device_name
from ansible_collections.novaops.compute.plugins.module_utils.ovs.addresses import parse_ip, parse_mac
from ansible_collections.novaops.compute.plugins.module_utils.ovs.vif_flows import (
    left_behind_vif_prefixes, vif_cookie_prefix, vif_flows,
)
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager


def argument_spec():
    return ArgumentSpec(
        dict(
            port=dict(type="str", required=True),
            bridge=dict(type="str"),
            interface_type=dict(type="str", default="system", choices=["system", "internal", "tap"]),
            mac=dict(type="str"),
            ips=dict(type="list", elements="str", default=[]),
            iface_id=dict(type="str"),
            vm_uuid=dict(type="str"),
            iface_status=dict(type="str", choices=["active", "inactive"]),
            external_ids=dict(type="dict", default={}),
            anti_spoofing=dict(type="bool", default=True),
            ipv6_link_local=dict(type="bool", default=True),
            allow_dhcp=dict(type="bool", default=True),
            next_table=dict(type="int"),
            reserve_ofport=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            timeout=dict(type="int", default=10),
        ),
        required_if=[["state", "present", ["bridge"]]],
        input_rules={"next_table": rules.Between(1, 254), "timeout": rules.SECONDS_AT_LEAST_ONE},
    )


def _flow_text(flow):
    text = "priority=%d" % flow["priority"]
    if flow["match"]:
        text += "," + flow["match"]
    return "%s actions=%s" % (text, flow["actions"])


class VIF(Manager):

    def __init__(self, module, ovs):
        super().__init__(module)
        self.ovs = ovs
        self.port = self.params["port"]
        self.prefix = vif_cookie_prefix(self.port)
        self.mac = None
        self.ips = []
        self.raw = None
        self._validate()

    def _validate(self):
        p = self.params
        if p["state"] != "present":
            return
        check_device_name(p["port"], "port")    # the interface this makes is a netdev of that name
        if p["mac"] is not None:
            self.mac = parse_mac(p["mac"])
        elif p["anti_spoofing"]:
            raise NovaopsError("mac is required for the anti-spoofing flows (or set anti_spoofing: false).")
        for text in p["ips"]:
            addr = parse_ip(text, what="VIF address")
            if addr not in self.ips:
                self.ips.append(addr)
        for key, value in p["external_ids"].items():
            if value is None or isinstance(value, (dict, list)):
                raise NovaopsError("external_ids.%s must be a string, not %r." % (key, value))

    def wanted_external_ids(self):
        p = self.params
        wanted = dict((str(k), str(v)) for k, v in p["external_ids"].items())
        if p["iface_id"] is not None:
            wanted["iface-id"] = p["iface_id"]
        if self.mac is not None:
            wanted["attached-mac"] = self.mac
        if p["vm_uuid"] is not None:
            wanted["vm-uuid"] = p["vm_uuid"]
        if p["iface_status"] is not None:
            wanted["iface-status"] = p["iface_status"]
        return wanted

    # -- read ----------------------------------------------------------------------------
    def read(self):
        p = self.params
        # One ovs-vsctl call reads the port, the bridges, every port's interfaces and the interfaces.
        port_rows, bridges, ports, interfaces = self.ovs.list_many([
            ("Port", self.port, ["name", "interfaces"]), ("Bridge", None, ["name", "ports"]),
            ("Port", None, ["interfaces"]), ("Interface", None, ["name", "type", "ofport", "external_ids"])])
        prow = port_rows[0] if port_rows else None
        bridge = None
        irow = None
        if prow is not None:
            bridge = next((b["name"] for b in bridges if prow["_uuid"] in as_list(b.get("ports"))), None)
            mine = set(as_list(prow.get("interfaces")))
            irow = next((row for row in interfaces if row["_uuid"] in mine and row.get("name") == self.port), None)
        if p["bridge"] and not any(b["name"] == p["bridge"] for b in bridges):
            raise NovaopsError("There is no Open vSwitch bridge named %s." % p["bridge"])
        # The bridge's whole table is read once when this run needs more than the VIF's own flows
        # there (the left-behind flows of table 0, the next table's default flow).
        dumps = {}
        if p["state"] == "present" and p["bridge"] and (self.mac is not None or p["next_table"] is not None):
            dumps[p["bridge"]] = self.ovs.dump_flows(p["bridge"])
        flows = []
        for fbridge in sorted(set(b for b in (bridge, p["bridge"]) if b)):
            if fbridge in dumps:
                own = [f for f in dumps[fbridge] if f["cookie"] >> 32 == self.prefix]
            else:
                own = self.ovs.dump_flows(fbridge, "cookie=%s" % cookie_mask(self.prefix))
            for flow in own:
                flow["bridge"] = fbridge
                flows.append(flow)
        self.raw = dict(port=prow, interface=irow, bridge=bridge, flows=flows, table_default=True, left_behind=[])
        if p["bridge"] in dumps:
            table = dumps[p["bridge"]]
            if p["next_table"] is not None:
                cookie, _spec = table_default_flow(p["next_table"])
                self.raw["table_default"] = any(f["cookie"] == cookie for f in table)
            if self.mac is not None:
                self.raw["left_behind"] = left_behind_vif_prefixes(
                    [f for f in table if f["table"] == 0], self.mac,
                    _bridge_ofports(p["bridge"], bridges, ports, interfaces), self.prefix)
        if prow is None and not flows:
            return None
        return self._facts(bridge, irow, flows)

    def _delete_left_behind(self):
        self.ovs.apply_flows(self.params["bridge"],
                             delete=["cookie=%s" % cookie_mask(prefix) for prefix in self.raw["left_behind"]])

    def _facts(self, bridge, irow, flows):
        ofport = as_one(irow.get("ofport")) if irow else None
        reserved = as_one(irow.get("ofport_request")) if irow else None
        cookies = sorted(set(f["cookie"] for f in flows))
        return dict(
            bridge=bridge, port=self.port,
            interface_type=(irow.get("type") or "system") if irow else None,
            ofport=ofport if isinstance(ofport, int) and ofport > 0 else None,
            ofport_request=reserved if isinstance(reserved, int) and reserved > 0 else None,
            external_ids=dict(irow.get("external_ids") or {}) if irow else {},
            flow_cookie=", ".join("0x%x" % c for c in cookies) or None,
            flows=sorted(_flow_text(f) for f in flows),
        )

    # -- plan ----------------------------------------------------------------------------
    def plan(self, before, plan):
        if self.params["state"] == "absent":
            return self._plan_absent(before, plan)
        return self._plan_present(before, plan)

    def _plan_present(self, before, plan):
        p = self.params
        bridge = p["bridge"]
        if self.raw["bridge"] and self.raw["bridge"] != bridge:
            raise NovaopsError("Port %s is already on bridge %s, not %s; unplug it first (state: absent)."
                               % (self.port, self.raw["bridge"], bridge))
        wanted_ids = self.wanted_external_ids()
        irow = self.raw["interface"]
        after = dict(before or dict(bridge=bridge, port=self.port, interface_type=None, ofport=None,
                                    external_ids={}, flow_cookie=None, flows=[]))
        txn = self.ovs.transaction()
        columns = {}
        if self.raw["port"] is None:
            if p["interface_type"] == "system" and not p["reserve_ofport"] and \
                    not os.path.exists(os.path.join("/sys/class/net", self.port)):
                raise NovaopsError("There is no network device named %s on this host; create the tap or veth "
                                   "first, use interface_type: internal, or reserve_ofport: true to plug it before "
                                   "its device exists." % self.port)
            txn.command("add-port", bridge, self.port)
            if p["interface_type"] != "system":
                columns["type"] = p["interface_type"]
            if p["reserve_ofport"]:
                columns["ofport_request"] = self._free_ofport()
                after["ofport_request"] = columns["ofport_request"]
            columns["external_ids"] = wanted_ids
        else:
            current_type = (irow or {}).get("type") or "system"
            if current_type != p["interface_type"]:
                columns["type"] = p["interface_type"] if p["interface_type"] != "system" else '""'
            current_ids = (irow or {}).get("external_ids") or {}
            changed_ids = dict((k, v) for k, v in wanted_ids.items() if current_ids.get(k) != v)
            if changed_ids:
                columns["external_ids"] = changed_ids
        if columns:
            txn.set("Interface", self.port, **columns)
        if txn:
            plan.add("plug", txn.commit)
            after.update(bridge=bridge, interface_type=p["interface_type"])
            after["external_ids"] = dict(after["external_ids"], **wanted_ids)
        if self.raw["left_behind"]:
            plan.add("remove_left_behind_flows", self._delete_left_behind)
        self._plan_flows(plan, after, bridge)
        return after

    def _plan_flows(self, plan, after, bridge):
        """The VIF's flows: on the port's number, or the one reserved for it while its device is not there yet."""
        p = self.params
        ofport = after.get("ofport") or (after.get("ofport_request") if p["reserve_ofport"] else None)
        current_cookies = set(f["cookie"] for f in self.raw["flows"])
        if p["anti_spoofing"]:
            if ofport is not None:
                cookie, specs = vif_flows(self.port, ofport, self.mac, self.ips,
                                          link_local=p["ipv6_link_local"], dhcp=p["allow_dhcp"],
                                          next_table=p["next_table"])
                if current_cookies != {cookie} or len(self.raw["flows"]) != len(specs) or \
                        any(f["bridge"] != bridge for f in self.raw["flows"]) or not self.raw["table_default"]:
                    plan.add("flows", self._apply_flows, bridge, None if after.get("ofport") else ofport)
                    after.update(flow_cookie="0x%x" % cookie, flows=sorted(s.split(",", 2)[2] for s in specs))
            else:
                plan.add("flows", self._apply_flows, bridge)
                cookie, specs = vif_flows(self.port, "<ofport>", self.mac, self.ips,
                                          link_local=p["ipv6_link_local"], dhcp=p["allow_dhcp"],
                                          next_table=p["next_table"])
                after.update(flow_cookie=None, flows=sorted(s.split(",", 2)[2] for s in specs))
        elif self.raw["flows"]:
            plan.add("remove_flows", self._delete_flows)
            after.update(flow_cookie=None, flows=[])

    def _wait_ofport(self):
        deadline = time.monotonic() + self.params["timeout"]
        while True:
            irow = self.ovs.get_row("Interface", self.port, columns=["name", "ofport", "error"])
            ofport = as_one(irow.get("ofport")) if irow else None
            if isinstance(ofport, int) and ofport > 0:
                return ofport
            if irow and as_one(irow.get("error")):
                raise NovaopsError("Open vSwitch could not open %s: %s" % (self.port, as_one(irow["error"])))
            if time.monotonic() >= deadline:
                raise WaitTimeout("Open vSwitch to give port %s an OpenFlow port number" % self.port,
                                  self.params["timeout"])
            time.sleep(0.1)

    def _free_ofport(self):
        """The lowest OpenFlow port number no interface has or has asked for (any bridge's: simply none)."""
        taken = set()
        for irow in self.ovs.list("Interface", columns=["ofport", "ofport_request"]):
            taken.update(n for n in (as_one(irow.get("ofport")), as_one(irow.get("ofport_request")))
                         if isinstance(n, int) and n > 0)
        return next(n for n in range(1, len(taken) + 2) if n not in taken)

    def _apply_flows(self, bridge, reserved=None):
        """The VIF's flows on its port's number; ``reserved``: the number reserved for a port without its device."""
        ofport = reserved or self._wait_ofport()
        cookie, specs = vif_flows(self.port, ofport, self.mac, self.ips,
                                  link_local=self.params["ipv6_link_local"], dhcp=self.params["allow_dhcp"],
                                  next_table=self.params["next_table"])
        # Flows of this VIF left on another bridge go too.
        for other in set(f["bridge"] for f in self.raw["flows"]) - {bridge}:
            self.ovs.apply_flows(other, delete=["cookie=%s" % cookie_mask(self.prefix)])
        if self.params["next_table"] is not None and not self.raw["table_default"]:
            specs = specs + [table_default_flow(self.params["next_table"])[1]]
        self.ovs.apply_flows(bridge, delete=["cookie=%s" % cookie_mask(self.prefix)], add=specs)

    def _delete_flows(self):
        for fbridge in sorted(set(f["bridge"] for f in self.raw["flows"])):
            self.ovs.apply_flows(fbridge, delete=["cookie=%s" % cookie_mask(self.prefix)])

    def _plan_absent(self, before, plan):
        if before is None:
            return None
        if self.raw["flows"]:
            plan.add("remove_flows", self._delete_flows)
        if self.raw["port"] is not None:
            txn = self.ovs.transaction()
            txn.command("--if-exists", "del-port", self.raw["bridge"] or self.params["bridge"], self.port)
            plan.add("unplug", txn.commit)
        return None

    def result(self, facts):
        return dict(vif=facts)

    def diff_view(self, facts):
        if not facts:
            return {}
        return dict((k, v) for k, v in facts.items() if k != "ofport")


def _bridge_ofports(name, bridges, ports, interfaces):
    """The OpenFlow port numbers of a bridge's interfaces, from the rows read."""
    bridge_ports = set()
    for row in bridges:
        if row["name"] == name:
            bridge_ports.update(as_list(row.get("ports")))
    wanted = set()
    for row in ports:
        if row["_uuid"] in bridge_ports:
            wanted.update(as_list(row.get("interfaces")))
    ofports = set()
    for row in interfaces:
        ofport = as_one(row.get("ofport"))
        if row["_uuid"] in wanted and isinstance(ofport, int) and ofport > 0:
            ofports.add(ofport)
    return ofports


def main():
    run_on_ovs(argument_spec(), VIF)


if __name__ == "__main__":
    main()

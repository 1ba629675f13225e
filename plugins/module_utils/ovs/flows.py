# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The OpenFlow rules an instance's VIF gets, and the addresses they are built from.

- validated addresses (netaddr): ``parse_ip``, ``parse_mac``, ``link_local_from_mac``;
- the anti-spoofing rules of XenServer's ``setup-vif-rules`` for one VIF: ``vif_flows``;
- the rate-limit steering rules ``nw_src=<ip> actions=set_queue:<id>,normal``: ``queue_flows``;
- cookies: every VIF's (or QoS port's) flows share the upper 32 bits of their cookie, so
  that unplugging removes exactly them (``vif_cookie_prefix``, ``qos_cookie_prefix``).
"""

from __future__ import annotations

import zlib

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.ovs.cli import flow_spec, name_cookie_prefix

netaddr = None  # imported on first use: modules that get no address do not pay for it

# Priorities, highest first (table 0; the bridge's own NORMAL flow has priority 0).
PRIO_ND_ALLOW = 60        # neighbour solicitation / advertisement for the VIF's own addresses
PRIO_ICMP6_DROP = 50      # other ND, router advertisements, redirects and router types
PRIO_DHCP = 45            # DHCP / DHCPv6 from the guest
PRIO_ALLOW = 40           # ARP and IP from the VIF's own addresses
PRIO_DROP = 10            # everything else the VIF sends

# ICMPv6 types a guest must never send: router advertisement, redirect, mobile prefix
# solicitation/advertisement, multicast router advertisement/solicitation/termination.
ICMP6_ROUTER_TYPES = (134, 137, 146, 147, 151, 152, 153)
ICMP6_NS, ICMP6_NA = 135, 136

QUEUE_FLOW_PRIORITY = 100


def _require_netaddr():
    global netaddr  # pylint: disable=global-statement
    if netaddr is None:
        try:
            import netaddr as _netaddr
        except ImportError:
            raise NovaopsError("The netaddr Python library is required on the managed node (pip install netaddr).")
        netaddr = _netaddr


def parse_ip(text, what="IP address"):
    """A host address (IPv4 or IPv6) as a netaddr.IPAddress; a clear error when it is not one."""
    _require_netaddr()
    value = str(text).strip()
    try:
        flags = getattr(netaddr, "INET_PTON", 0)
        addr = netaddr.IPAddress(value, flags=flags)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise NovaopsError("%s %r is not a valid IPv4 or IPv6 address." % (what, text))
    if addr.is_multicast() or int(addr) == 0 or (addr.version == 4 and int(addr) == 0xffffffff):
        raise NovaopsError("%s %r is not a unicast host address." % (what, text))
    return addr


def parse_mac(text):
    """A unicast MAC as 'aa:bb:cc:dd:ee:ff'; a clear error otherwise."""
    _require_netaddr()
    value = str(text).strip()
    try:
        eui = netaddr.EUI(value)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise NovaopsError("MAC address %r is not valid (expected e.g. fa:16:3e:12:34:56)." % (text,))
    if eui.version != 48 or len(value) < 12:
        raise NovaopsError("MAC address %r is not a 48-bit Ethernet address." % (text,))
    if int(eui) == 0 or (int(eui) >> 40) & 1:
        raise NovaopsError("MAC address %r is not a unicast address." % (text,))
    eui.dialect = netaddr.mac_unix_expanded
    return str(eui).lower()


def link_local_from_mac(mac):
    """The EUI-64 IPv6 link-local address a guest derives from its MAC."""
    _require_netaddr()
    return netaddr.EUI(mac).ipv6_link_local()


def vif_cookie_prefix(port):
    return name_cookie_prefix("novaops-vif:%s" % port)


def qos_cookie_prefix(port):
    return name_cookie_prefix("novaops-qos:%s" % port)


def _ip_field(addr):
    return ("ip", "nw_src") if addr.version == 4 else ("ipv6", "ipv6_src")


def table_default_flow(table):
    """'table=N, priority 0, NORMAL': what a pipeline table needs so allowed traffic is forwarded.

    Shared by every VIF and QoS that uses the table, with one well-known cookie; never removed
    (it forwards only what an earlier table sent there).
    """
    cookie = (name_cookie_prefix("novaops-table-default") << 32) | (int(table) & 0xff)
    return cookie, flow_spec(cookie, 0, "", "normal", table=int(table))


def vif_rules(ofport, mac, ips, link_local=True, dhcp=True, next_table=None):
    """(priority, match, actions) rules for one VIF, after XenServer's setup-vif-rules.

    Allowed traffic goes to NORMAL, or to next_table (resubmit) where queue flows can steer
    it: a queue flow in table 0 would otherwise match before these rules and let spoofed
    traffic through.
    """
    allow = "normal" if next_table is None else "resubmit(,%d)" % int(next_table)
    v4 = [a for a in ips if a.version == 4]
    v6 = [a for a in ips if a.version == 6]
    if link_local:
        ll = link_local_from_mac(mac)
        if ll not in v6:
            v6.append(ll)
    src = "in_port=%s,dl_src=%s" % (ofport, mac)
    rules = []
    # IPv4: ARP only with the VIF's own MAC and addresses (and the 0.0.0.0 probe), IP only from them.
    if v4 or dhcp:
        rules.append((PRIO_ALLOW, "arp,%s,arp_spa=0.0.0.0,arp_sha=%s" % (src, mac), allow))
    for addr in v4:
        rules.append((PRIO_ALLOW, "arp,%s,arp_spa=%s,arp_sha=%s" % (src, addr, mac), allow))
        rules.append((PRIO_ALLOW, "ip,%s,nw_src=%s" % (src, addr), allow))
    if dhcp:
        rules.append((PRIO_DHCP, "udp,%s,nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67" % src, allow))
    # IPv6: ND only for its own addresses (and DAD from ::), no router types, IPv6 only from them.
    if v6:
        for addr in v6 + ["::"]:
            rules.append((PRIO_ND_ALLOW, "icmp6,%s,ipv6_src=%s,icmp_type=%d" % (src, addr, ICMP6_NS), allow))
        for addr in v6:
            for target in v6:
                rules.append((PRIO_ND_ALLOW, "icmp6,%s,ipv6_src=%s,icmp_type=%d,nd_target=%s"
                              % (src, addr, ICMP6_NA, target), allow))
        if dhcp:
            for addr in v6:
                if addr.is_link_local():
                    rules.append((PRIO_DHCP, "udp6,%s,ipv6_src=%s,tp_src=546,tp_dst=547" % (src, addr), allow))
        for addr in v6:
            rules.append((PRIO_ALLOW, "ipv6,%s,ipv6_src=%s" % (src, addr), allow))
    for icmp_type in (ICMP6_NS, ICMP6_NA) + ICMP6_ROUTER_TYPES:
        rules.append((PRIO_ICMP6_DROP, "icmp6,in_port=%s,icmp_type=%d" % (ofport, icmp_type), "drop"))
    rules.append((PRIO_DROP, "in_port=%s" % ofport, "drop"))
    return rules


def rules_hash(rules):
    text = "\n".join("%d %s %s" % rule for rule in sorted(rules))
    return zlib.crc32(text.encode("utf-8")) & 0xffffffff


def vif_flows(port, ofport, mac, ips, link_local=True, dhcp=True, next_table=None):
    """(cookie, [add-flows specs]) for one VIF.

    The cookie's upper half names the VIF (its port), the lower half is a hash of the rule
    set: the VIF's flows are as wanted exactly when all of them carry this cookie and there
    are as many as wanted.
    """
    rules = vif_rules(ofport, mac, ips, link_local=link_local, dhcp=dhcp, next_table=next_table)
    cookie = (vif_cookie_prefix(port) << 32) | rules_hash(rules)
    return cookie, [flow_spec(cookie, prio, match, actions) for prio, match, actions in rules]


def queue_flow(port, queue_id, addr, priority=QUEUE_FLOW_PRIORITY, table=0):
    """The flow that sends a source address's traffic to a queue of port's QoS."""
    proto, field = _ip_field(addr)
    cookie = (qos_cookie_prefix(port) << 32) | (int(queue_id) & 0xffffffff)
    return flow_spec(cookie, priority, "%s,%s=%s" % (proto, field, addr), "set_queue:%d,normal" % int(queue_id),
                     table=table)


def left_behind_vif_prefixes(flows, mac, live_ofports, keep_prefix):
    """Cookie prefixes of the anti-spoofing flows a VIF left on ports that are gone.

    A VM's restart gives its VIF another port (dom0's ``vif<domid>.<device>``, libvirt's
    tap): OVS keeps the old port's flows, matching an ofport no port has. A prefix is left
    behind when its flows carry the VIF's MAC (``dl_src``) and every one of them matches
    an ``in_port`` that is not among ``live_ofports``; ``keep_prefix`` (the VIF's own) never is.
    """
    by_prefix = {}
    for flow in flows:
        prefix = flow["cookie"] >> 32
        if prefix and prefix != keep_prefix:
            by_prefix.setdefault(prefix, []).append(flow["match_fields"])
    stale = set()
    for prefix, matches in by_prefix.items():
        ports = set(str(fields.get("in_port")) for fields in matches)
        if "None" in ports or ports & set(str(p) for p in live_ofports):
            continue
        if any(str(fields.get("dl_src", "")).lower() == mac for fields in matches):
            stale.add(prefix)
    return sorted(stale)


def queue_of_actions(actions):
    """The queue id a flow's actions send to (set_queue:N), or None."""
    for action in actions.split(","):
        action = action.strip()
        if action.startswith("set_queue:"):
            try:
                return int(action.split(":", 1)[1])
            except ValueError:
                return None
        if action.startswith("set_queue("):
            try:
                return int(action[len("set_queue("):].rstrip(")"))
            except ValueError:
                return None
    return None


def source_of_match(match_fields):
    """The source IP a flow matches on (nw_src / ipv6_src, host addresses only), or None."""
    for field in ("nw_src", "ipv6_src"):
        value = match_fields.get(field)
        if value and value is not True and "/" not in value:
            try:
                return parse_ip(value)
            except NovaopsError:
                return None
    return None

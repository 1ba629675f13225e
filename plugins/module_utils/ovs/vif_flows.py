# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The anti-spoofing OpenFlow rules an instance's VIF gets, after XenServer's ``setup-vif-rules``.

Every VIF's flows share the upper 32 bits of their cookie (``vif_cookie_prefix``), so that
unplugging removes exactly them; the lower half is a hash of the rule set.
"""

from __future__ import annotations

import zlib

from ansible_collections.novaops.compute.plugins.module_utils.ovs.addresses import link_local_from_mac
from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import flow_spec, name_cookie_prefix

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


def vif_cookie_prefix(port):
    return name_cookie_prefix("novaops-vif:%s" % port)


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

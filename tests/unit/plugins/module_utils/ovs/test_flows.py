# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.ovs.addresses import (
    link_local_from_mac, parse_ip, parse_mac,
)
from ansible_collections.novaops.compute.plugins.module_utils.ovs.openflow import table_default_flow
from ansible_collections.novaops.compute.plugins.module_utils.ovs.queue_flows import (
    queue_flow, queue_of_actions, source_of_match,
)
from ansible_collections.novaops.compute.plugins.module_utils.ovs.vif_flows import (
    left_behind_vif_prefixes, vif_cookie_prefix, vif_flows, vif_rules,
)

MAC = "fa:16:3e:00:00:05"


@pytest.mark.parametrize("text", ["10.0.0.300", "10.0.0", "10.0.0.0/24", "fe80::zz", "", "10"])
def test_parse_ip_refuses(text):
    with pytest.raises(NovaopsError) as err:
        parse_ip(text)
    assert "not a valid IPv4 or IPv6 address" in err.value.msg


@pytest.mark.parametrize("text", ["224.0.0.1", "0.0.0.0", "255.255.255.255", "ff02::1", "::"])
def test_parse_ip_refuses_non_host(text):
    with pytest.raises(NovaopsError) as err:
        parse_ip(text)
    assert "not a unicast host address" in err.value.msg


def test_parse_ip_normalises():
    assert str(parse_ip("2001:DB8:0:0::5")) == "2001:db8::5"
    assert parse_ip(" 10.0.0.5 ").version == 4


def test_parse_mac():
    assert parse_mac("FA-16-3E-00-00-05") == MAC
    assert parse_mac("FA:16:3E:00:00:05") == MAC
    for bad in ("fa:16:3e:00:00", "zz:16:3e:00:00:05", "00:00:00:00:00:00", "01:00:5e:00:00:01"):
        with pytest.raises(NovaopsError):
            parse_mac(bad)


def test_link_local():
    assert str(link_local_from_mac(MAC)) == "fe80::f816:3eff:fe00:5"


def _rules(**kwargs):
    return vif_rules(3, MAC, [parse_ip("10.0.0.5"), parse_ip("2001:db8::5")], **kwargs)


def test_vif_rules_cover_setup_vif_rules():
    rules = _rules()
    texts = ["%d %s %s" % r for r in rules]
    assert "10 in_port=3 drop" in texts                             # drop the rest
    assert any("arp_spa=10.0.0.5,arp_sha=%s" % MAC in t and t.endswith("normal") for t in texts)
    assert any("ip,in_port=3,dl_src=%s,nw_src=10.0.0.5 normal" % MAC in t for t in texts)
    assert any("tp_src=68,tp_dst=67" in t and t.endswith("normal") for t in texts)  # DHCP out
    assert any("ipv6_src=2001:db8::5,icmp_type=136,nd_target=2001:db8::5" in t for t in texts)
    for icmp_type in (134, 137, 146, 147, 151, 152, 153, 135, 136):
        assert "50 icmp6,in_port=3,icmp_type=%d drop" % icmp_type in texts
    allow = [r for r in rules if r[2] != "drop"]
    assert all("dl_src=%s" % MAC in r[1] for r in allow)            # every allowed frame has its MAC
    assert max(r[0] for r in rules if "icmp_type=134" in r[1]) > max(r[0] for r in rules if r[1].startswith("ipv6,"))


def test_vif_rules_next_table_and_no_dhcp():
    rules = _rules(next_table=1, dhcp=False)
    assert all(r[2] in ("drop", "resubmit(,1)") for r in rules)
    assert not any("tp_dst=67" in r[1] for r in rules)


def test_vif_flows_cookie():
    ips = [parse_ip("10.0.0.5")]
    cookie, specs = vif_flows("tap1", 3, MAC, ips)
    assert cookie >> 32 == vif_cookie_prefix("tap1")
    assert all(s.startswith("cookie=0x%x,table=0," % cookie) for s in specs)
    again, _specs = vif_flows("tap1", 3, MAC, ips)
    other, _specs2 = vif_flows("tap1", 3, MAC, ips + [parse_ip("10.0.0.6")])
    assert again == cookie and other != cookie and other >> 32 == cookie >> 32


def test_queue_flow():
    spec = queue_flow("eth1", 13947, parse_ip("10.0.0.5"), table=1)
    assert spec.endswith(",table=1,priority=100,ip,nw_src=10.0.0.5 actions=set_queue:13947,normal")
    assert int(spec.split(",")[0].split("=")[1], 16) & 0xffffffff == 13947
    assert "ipv6,ipv6_src=2001:db8::5" in queue_flow("eth1", 1, parse_ip("2001:db8::5"))
    assert queue_of_actions("set_queue:13947,NORMAL") == 13947
    assert queue_of_actions("NORMAL") is None
    assert str(source_of_match({"ip": True, "nw_src": "10.0.0.5"})) == "10.0.0.5"
    assert source_of_match({"ip": True, "nw_src": "10.0.0.0/24"}) is None


def test_table_default_flow():
    cookie, spec = table_default_flow(1)
    assert spec == "cookie=0x%x,table=1,priority=0 actions=normal" % cookie


def test_left_behind_vif_prefixes():
    """The flows a VIF left on a port that is gone (its MAC, an in_port no port has); never a live port's, another
    MAC's, the VIF's own, or flows without in_port (queue flows, table defaults)."""
    def flows(prefix, ofport, mac):
        return [dict(cookie=(prefix << 32) | 5, match_fields=fields) for fields in
                (dict(in_port=str(ofport), dl_src=mac, ip=True), dict(in_port=str(ofport)))]
    every = (flows(1, 3, MAC) + flows(2, 4, MAC) + flows(3, 5, "fa:16:3e:00:00:06") + flows(4, 6, MAC)
             + [dict(cookie=(9 << 32) | 1, match_fields=dict(ip=True, nw_src="10.0.0.5")), dict(cookie=0, match_fields={})])
    assert left_behind_vif_prefixes(every, MAC, {4, 7}, keep_prefix=4) == [1]
    assert left_behind_vif_prefixes(every, MAC, {3, 4, 7}, keep_prefix=4) == []

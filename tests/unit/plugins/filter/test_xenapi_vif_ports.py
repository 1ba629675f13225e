# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which port each XenAPI VIF is wired on: a port dom0 names otherwise wins, an old domain's is ignored."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.novaops.compute.plugins.filter.xenapi_vif_ports import xenapi_vif_ports

RUNNING = {"vifs": [{"device": "0", "port": "vif7.0"}, {"device": "1", "port": "vif7.1"}]}


def test_the_running_domains_ports_in_the_vifs_order():
    assert xenapi_vif_ports([{"bridge": "br-int"}, {"bridge": "br-int"}], RUNNING) == ["vif7.0", "vif7.1"]


def test_a_given_port_wins_but_an_earlier_domains_name_does_not():
    vifs = [{"port": "tap-custom0"}, {"port": "vif3.1"}]
    assert xenapi_vif_ports(vifs, RUNNING) == ["tap-custom0", "vif7.1"]


def test_a_halted_vm_has_no_port_unless_one_is_given():
    halted = {"vifs": [{"device": "0", "port": None}]}
    assert xenapi_vif_ports([{}, {"port": "vif1.1"}, {"port": "ext1"}], halted) == ["", "", "ext1"]
    assert xenapi_vif_ports([{}], {}) == [""]


def test_vifs_that_are_not_a_list_of_dicts_are_refused():
    with pytest.raises(AnsibleFilterError, match="list of dicts"):
        xenapi_vif_ports("eth0", RUNNING)


def test_vifs_are_wired_when_one_has_ips_or_max_rate_and_there_is_a_port():
    from ansible_collections.novaops.compute.plugins.filter.xenapi_vif_ports import xenapi_vifs_to_wire
    running = dict(RUNNING, power_state="running")
    assert xenapi_vifs_to_wire([{"ips": ["192.0.2.1"]}], running)
    assert xenapi_vifs_to_wire([{}, {"max_rate": 1000}], running)
    assert not xenapi_vifs_to_wire([{"bridge": "br-int"}, {}], running)       # nothing to wire


def test_a_halted_vm_is_wired_only_on_a_given_port():
    from ansible_collections.novaops.compute.plugins.filter.xenapi_vif_ports import xenapi_vifs_to_wire
    halted = {"power_state": "halted", "vifs": [{"device": "0", "port": None}]}
    assert not xenapi_vifs_to_wire([{"ips": ["192.0.2.1"]}], halted)
    assert xenapi_vifs_to_wire([{"ips": ["192.0.2.1"], "port": "ext1"}], halted)
    assert xenapi_vifs_to_wire([{"ips": ["192.0.2.1"]}], {"power_state": "paused", "vifs": []})

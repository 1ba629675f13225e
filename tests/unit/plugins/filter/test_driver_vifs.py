# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The inventory's VIFs as xen_vm and libvirt_domain take them (what the boot role reshaped in Jinja)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.novaops.compute.plugins.filter.driver_vifs import libvirt_domain_vifs, xen_vm_vifs

INVENTORY_VIF = {"id": "6f1c0e1a-0000-4000-8000-000000000001", "bridge": "br-int", "network": "net0",
                 "mac": "02:00:00:00:00:01", "device": "0", "ips": ["192.0.2.10"], "max_rate": 1000000,
                 "queue_id": 7, "type": "ovs", "model": "virtio", "mtu": 1450, "port": "tap-x"}


def test_xen_vm_takes_network_mac_and_device_only():
    assert xen_vm_vifs([INVENTORY_VIF, {"network": "net1"}]) == [
        {"network": "net0", "mac": "02:00:00:00:00:01", "device": "0"}, {"network": "net1"}]


def test_libvirt_domain_gets_anti_spoofing_with_ips_and_a_queue_with_max_rate():
    assert libvirt_domain_vifs([INVENTORY_VIF], "eth-up") == [{
        "id": INVENTORY_VIF["id"], "bridge": "br-int", "type": "ovs", "mac": "02:00:00:00:00:01", "model": "virtio",
        "mtu": 1450, "ips": ["192.0.2.10"], "anti_spoofing": True,
        "qos": {"port": "eth-up", "queue_id": 7, "max_rate": 1000000}}]


def test_a_plain_vif_gets_neither_and_a_missing_queue_id_is_left_for_the_module_to_refuse():
    assert libvirt_domain_vifs([{"bridge": "br-int"}]) == [{"bridge": "br-int", "anti_spoofing": False}]
    qos = libvirt_domain_vifs([{"bridge": "br-int", "max_rate": 5}])[0]["qos"]
    assert qos == {"port": "", "queue_id": None, "max_rate": 5}


def test_vifs_that_are_not_a_list_of_dicts_are_refused():
    with pytest.raises(AnsibleFilterError, match="xen_vm_vifs: the VIFs must be a list of dicts"):
        xen_vm_vifs("eth0")
    with pytest.raises(AnsibleFilterError, match="libvirt_domain_vifs"):
        libvirt_domain_vifs(["eth0"])

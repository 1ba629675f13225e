# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""vif_ovs_ports on ovs.OVS with a scripted ovs-vsctl."""

from __future__ import annotations

import json

from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import vif_ovs_ports
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import OVS


def table(rows):
    headings = ["_uuid", "name", "external_ids"]
    data = [[["uuid", "u%d" % i], name, ["map", sorted(ids.items())]] for i, (name, ids) in enumerate(rows)]
    return json.dumps(dict(headings=headings, data=data))


def test_ports_by_iface_id_and_mac():
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        return 0, table([("vnet0", {"iface-id": "p1", "attached-mac": "fa:16:3e:00:00:01"}),
                         ("vnet9", {"iface-id": "p1", "attached-mac": "fa:16:3e:00:00:09"})]), ""

    ovs = OVS(run)
    assert vif_ovs_ports(ovs, "p1", "FA:16:3E:00:00:01") == ["vnet0"]
    assert vif_ovs_ports(ovs, "p1") == ["vnet0", "vnet9"]
    assert "find" in calls[0] and any(a.startswith("external_ids:iface-id=") for a in calls[0])


def test_no_port():
    ovs = OVS(lambda argv, **kwargs: (0, json.dumps(dict(headings=["_uuid", "name", "external_ids"], data=[])), ""))
    assert vif_ovs_ports(ovs, "p1", "fa:16:3e:00:00:01") == []

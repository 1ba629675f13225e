# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.libvirt.migration_vifs import ovs_vifs, unplaced, vif_queues

UUID = "6b1e5b2e-8f3a-4a8e-9f47-1c6f7f1f2a10"
OVS_VIF = dict(id="5f1a9c2e-0123-4567-89ab-cdef01234567", type="ovs", bridge="br-int", mac="fa:16:3e:5f:1a:9c",
               ips=["10.0.0.5"], anti_spoofing=True, dev="tap5f1a9c2e-01",
               qos=dict(port="eth1", queue_id="7", max_rate=100000000))


def test_an_ovs_vif_with_filter_and_rate_limit_as_ovs_vif_and_ovs_qos_queue_take_it():
    [vif] = ovs_vifs(dict(vifs=[OVS_VIF]), UUID)
    assert vif == dict(port="tap5f1a9c2e-01", bridge="br-int", mac="fa:16:3e:5f:1a:9c", ips=["10.0.0.5"],
                       iface_id=OVS_VIF["id"], vm_uuid=UUID, anti_spoofing=True, next_table=1,
                       qos=dict(port="eth1", queue_id=7, max_rate=100000000, flow_table=1))


def test_without_rate_limit_the_flows_end_in_normal_and_without_filter_the_queue_flows_are_in_table_0():
    plain = dict(OVS_VIF, qos=None)
    queued = dict(OVS_VIF, anti_spoofing=False)
    assert ovs_vifs(dict(vifs=[plain]), UUID)[0]["next_table"] is None
    assert ovs_vifs(dict(vifs=[queued]), UUID)[0]["qos"]["flow_table"] == 0


def test_only_ovs_vifs_with_a_tap_of_their_own_and_none_without_a_recorded_state():
    bridge_vif = dict(OVS_VIF, type="bridge")
    no_tap = dict(OVS_VIF, dev=None)
    assert ovs_vifs(dict(vifs=[bridge_vif, no_tap]), UUID) == []
    assert ovs_vifs(None, UUID) == [] and ovs_vifs(dict(name="x"), UUID) == []


def test_an_ovs_vif_without_an_interface_id_is_passed_none_not_empty():
    assert ovs_vifs(dict(vifs=[dict(OVS_VIF, id="")]), UUID)[0]["iface_id"] is None


def test_each_rate_limited_vifs_queue_as_ovs_qos_queue_takes_it():
    vifs = ovs_vifs(dict(vifs=[OVS_VIF, dict(OVS_VIF, dev="tap2", qos=None)]), UUID)
    assert vif_queues(vifs) == [dict(port="eth1", bridge="br-int", queue_id=7, max_rate=100000000,
                                     source_ips=["10.0.0.5"], flow_table=1)]
    assert vif_queues([]) == []


def test_vifs_plugged_first_need_the_destination_and_the_host_named():
    vifs = ovs_vifs(dict(vifs=[OVS_VIF]), UUID)
    both = unplaced("i-1", vifs, None, "")
    assert both.startswith("Domain i-1 has Open vSwitch VIFs (tap5f1a9c2e-01), which are plugged on the destination "
                           "host before it moves: name the destination (dest_uri")
    assert "live_migrate_dest," in both and "live_migrate_dest_host" in both and " and set vif_host (" in both
    host_only = unplaced("i-1", vifs, "qemu+tcp://hv2/system", None)
    assert "vif_host" in host_only and "dest_uri" not in host_only and "live_migrate_dest_host" in host_only
    dest_only = unplaced("i-1", vifs, None, "hv2")
    assert "dest_uri" in dest_only and "vif_host" not in dest_only


def test_named_or_without_vifs_nothing_is_refused():
    assert unplaced("i-1", ovs_vifs(dict(vifs=[OVS_VIF]), UUID), "qemu+tcp://hv2/system", "hv2") is None
    assert unplaced("i-1", [], None, "") is None

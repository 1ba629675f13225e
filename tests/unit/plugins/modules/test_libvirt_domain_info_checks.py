# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the rescue and hard_reboot roles' checks compare: the disks' file names in boot order, and the
Open vSwitch interfaces that have no port."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.modules import libvirt_domain_info


def test_disk_files_are_the_file_names_in_the_domains_order():
    disks = [dict(path="/var/lib/nova/instances/u1/disk.rescue"), dict(path="/var/lib/nova/instances/u1/disk"),
             dict(path=None, device="cdrom")]
    assert libvirt_domain_info.disk_files(disks) == ["disk.rescue", "disk", None]


def test_an_ovs_interface_without_a_port_is_unplugged_others_are_not_counted():
    vifs = [dict(mac="02:00:00:00:00:01", virtualport="openvswitch", ovs_port="tap1"),
            dict(mac="02:00:00:00:00:02", virtualport="openvswitch", ovs_port=None),
            dict(mac="02:00:00:00:00:03", virtualport=None, ovs_port=None)]
    assert libvirt_domain_info.unplugged_ovs_macs(vifs) == ["02:00:00:00:00:02"]

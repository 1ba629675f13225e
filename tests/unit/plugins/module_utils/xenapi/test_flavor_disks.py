# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.flavor_disks import flavor_disks


def layout(disks):
    return [(where, d["userdevice"], d["size_gb"], d["size_mb"], d["clone_of"], d["bootable"], d["name"])
            for where, d in disks]


def test_nova_places_root_swap_ephemeral():
    got = flavor_disks(dict(vcpus=1, memory_mb=512, root_gb=20, swap_mb=512, ephemeral_gb=40), "i-1")
    assert layout(got) == [("flavor.root_gb", "0", 20, None, None, True, None),
                           ("flavor.swap_mb", "1", None, 512, None, None, "i-1 swap"),
                           ("flavor.ephemeral_gb", "4", 40, None, None, None, "i-1 ephemeral")]


def test_zero_sizes_mean_no_disk_and_the_template_root_stays():
    assert flavor_disks(dict(vcpus=1, memory_mb=512, root_gb=0, swap_mb=0, ephemeral_gb=0), "i-1") == []


def test_root_from_an_image_is_a_clone_grown_to_root_gb_or_left_at_its_size():
    grown = flavor_disks(dict(vcpus=1, memory_mb=512, root_gb=10), "i-1", "image-vdi")
    assert layout(grown) == [("image_vdi", "0", 10, None, "image-vdi", True, None)]
    as_is = flavor_disks(dict(vcpus=1, memory_mb=512, root_gb=0), "i-1", "")
    assert layout(as_is) == [("image_vdi", "0", None, None, "", True, None)]
    assert as_is[0][1]["adopt"] is False and as_is[0][1]["vdi"] is None

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which files a resize moves, how, and the refusal of a shrink."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import resize_disks as rd
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

GiB = 1024 ** 3
INST = "/srv/instances/0f4b8ae3-8bd7-5d56-9b0a-3b5b0a1d2c3e"


def _facts(*disks):
    return dict(disks=[dict(type=kind, path=path) for kind, path in disks])


def test_instance_disks_are_the_file_disks_inside_the_instance_directory():
    facts = _facts(("file", INST + "/disk"), ("file", INST + "/disk.local"), ("file", "/volumes/data.qcow2"),
                   ("file", INST + "/../other/disk"), ("network", INST + "/disk.rbd"), ("file", None))
    inside, outside = rd.instance_disks(facts, INST + "/")
    assert inside == ["disk", "disk.local"]
    assert outside == ["/volumes/data.qcow2", INST + "/../other/disk", INST + "/disk.rbd"]


def test_an_overlay_is_flattened_and_its_whole_chain_counted():
    chain = [{"format": "qcow2", "virtual-size": GiB, "actual-size": 3 << 20,
              "full-backing-filename": "/srv/instances/_base/abc"},
             {"format": "raw", "virtual-size": 16 << 20, "actual-size": 2 << 20}]
    disk = rd.describe("disk", chain)
    assert disk == dict(name="disk", format="qcow2", virtual_size=GiB, backing="/srv/instances/_base/abc",
                        method=rd.FLATTEN, need=5 << 20)


@pytest.mark.parametrize("top", [{"format": "qcow2", "virtual-size": GiB, "actual-size": 1},
                                 {"format": "raw", "virtual-size": GiB, "actual-size": 1}])
def test_a_standalone_image_is_copied_as_it_is(top):
    assert rd.describe("disk.local", [top])["method"] == rd.COPY


def test_a_bigger_or_equal_flavor_fits():
    disks = [dict(name="disk", virtual_size=GiB), dict(name="disk.local", virtual_size=GiB),
             dict(name="disk.swap", virtual_size=16 << 20), dict(name="disk.config", virtual_size=1 << 20)]
    rd.check_fits(disks, dict(root_gb=1, ephemeral_gb=2, swap_mb=0))
    rd.check_fits(disks, None)


def test_root_gb_zero_keeps_the_image_size():
    rd.check_fits([dict(name="disk", virtual_size=20 * GiB)], dict(root_gb=0, ephemeral_gb=0, swap_mb=0))


def test_each_shrunk_disk_is_named_with_its_sizes():
    disks = [dict(name="disk", virtual_size=2 * GiB), dict(name="disk.local", virtual_size=GiB)]
    with pytest.raises(NovaopsError) as caught:
        rd.check_fits(disks, dict(root_gb=1, ephemeral_gb=0, swap_mb=0))
    assert "before anything moves" in caught.value.msg
    assert "disk (2147483648 bytes, the flavor gives root_gb=1, 1073741824 bytes)" in caught.value.msg
    assert "disk.local (1073741824 bytes, the flavor gives ephemeral_gb=0, 0 bytes)" in caught.value.msg
    assert [s["name"] for s in caught.value.facts["shrinks"]] == ["disk", "disk.local"]


def test_swap_moves_only_when_its_size_stays():
    swap = dict(name="disk.swap", virtual_size=16 << 20)
    assert rd.keeps(swap, dict(swap_mb=16))
    assert not rd.keeps(swap, dict(swap_mb=32))
    assert not rd.keeps(swap, dict(swap_mb=0))
    assert rd.keeps(swap, None)
    assert rd.keeps(dict(name="disk", virtual_size=1), dict(swap_mb=32))

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The arithmetic of a live migration (Nova's downtime steps and timeout scale) and the disks it names."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.libvirt import live_migration as lm

GIB = 1024 ** 3


def test_downtime_rises_in_even_steps_to_the_maximum_spaced_by_the_data():
    # Nova's defaults (500 ms, 10 steps, 75 s per GiB) for 2 GiB: every 150 s, 50 ms more
    steps = lm.downtime_steps(500, 10, 75, 2.0)
    assert steps[0] == (0, 50)
    assert steps[1] == (150, 95)
    assert steps[-1] == (1500, 500)
    assert len(steps) == 11
    assert [ms for _at, ms in steps] == sorted(ms for _at, ms in steps)


def test_the_data_is_memory_plus_disks_for_a_block_migration_and_at_least_two_gib():
    disks = [dict(capacity=3 * GIB), dict(capacity=GIB)]
    assert lm.data_gib(GIB, disks, block=True) == 5.0
    assert lm.data_gib(3 * GIB, disks, block=False) == 3.0
    assert lm.data_gib(64 * 1024 * 1024, [], block=False) == 2.0


def test_progress_is_thinned_keeping_the_first_and_the_last_sample():
    samples = [dict(at=i) for i in range(1000)]
    kept = lm._thin(samples)    # pylint: disable=protected-access
    assert len(kept) == lm.PROGRESS_SAMPLES
    assert kept[0]["at"] == 0 and kept[-1]["at"] == 999
    assert lm._thin(samples[:5]) == samples[:5]    # pylint: disable=protected-access


class FakeDomain:
    def __init__(self, xml, sizes):
        self.xml = xml
        self.sizes = sizes

    def XMLDesc(self, _flags):   # noqa: N802 (libvirt's name)
        return self.xml

    def blockInfo(self, path):   # noqa: N802
        return [self.sizes[path], 0, 0]


XML = """<domain type='qemu'><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/u/disk'/>
    <backingStore type='file'><format type='raw'/><source file='/i/_base/abc'/><backingStore/></backingStore>
    <target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/i/u/disk.local'/>
    <target dev='vdb' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><source file='/i/u/config.iso'/><target dev='hdc'/><readonly/></disk>
  <disk type='file' device='disk'><source file='/shared/vol'/><target dev='vdc'/><shareable/></disk>
</devices></domain>"""


def test_the_disks_of_a_block_migration_are_the_guests_own_file_disks_with_their_backing():
    disks = lm.guest_disks(FakeDomain(XML, {"/i/u/disk": 10 * GIB, "/i/u/disk.local": GIB}))
    assert [d["dev"] for d in disks] == ["vda", "vdb"]
    assert disks[0]["backing"] == dict(path="/i/_base/abc", format="raw", deeper=False)
    assert disks[0]["capacity"] == 10 * GIB and disks[0]["format"] == "qcow2"
    assert disks[1]["backing"] is None and disks[1]["format"] == "raw"

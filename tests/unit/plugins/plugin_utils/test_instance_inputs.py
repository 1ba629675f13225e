# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' first check names the inventory variables the operator set."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.plugin_utils.instance_inputs import problems


def test_usable_inputs_pass():
    assert problems("boot", "xenapi", dict(vcpus=1, memory_mb="256", root_gb=0)) == []
    assert problems("hard_reboot", "libvirt") == []


@pytest.mark.parametrize("driver, text", [
    ("vmware", "compute_driver is 'vmware' (the hard_reboot role's hard_reboot_driver); it must be libvirt or xenapi."),
    ("", "compute_driver is not set (nor the hard_reboot role's hard_reboot_driver); set it to libvirt or xenapi."),
])
def test_driver_named_as_set(driver, text):
    assert problems("hard_reboot", driver) == [text]


@pytest.mark.parametrize("flavor, text", [
    (dict(vcpus=1), "instance_flavor has no memory_mb (the boot role's boot_flavor)"),
    ({}, "instance_flavor is not set"),
    (dict(vcpus="many", memory_mb=64), "instance_flavor's vcpus is 'many'"),
    (dict(vcpus=1, memory_mb=64, root_gb=-1), "instance_flavor's root_gb is -1"),
])
def test_flavor_named_as_set(flavor, text):
    found = problems("boot", "libvirt", flavor)
    assert len(found) == 1 and found[0].startswith(text)

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles' first check names the inventory variables the operator set."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.plugin_utils.instance_inputs import cold_migration_problems, problems


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


XENAPI_COLD = dict(xenapi=dict(pool=dict(url="https://pool-b"), ssh=dict(host="10.0.0.2"), template="Debian"))


@pytest.mark.parametrize("driver, cold, dest, template", [
    ("xenapi", XENAPI_COLD, "", ""),
    ("xenapi", dict(xenapi=dict(pool=dict(url="https://pool-b"), ssh=dict(host="10.0.0.2"))), "", "Debian"),
    ("libvirt", dict(ssh=dict(host="hv2")), "qemu+tcp://hv2/system", ""),
])
def test_cold_migration_with_what_it_needs_passes(driver, cold, dest, template):
    assert cold_migration_problems(driver, cold, dest, template) == []


def test_cold_migration_names_each_xenapi_setting_missing():
    found = cold_migration_problems("xenapi", dict(shutdown_timeout=2), "", "")
    assert found == ["Not moved cold: a XenAPI VM goes cold to another pool only (xapi starts a VM of this pool on the "
                     "host it picks), and evacuate_cold.xenapi.pool.url (the destination pool), "
                     "evacuate_cold.xenapi.ssh.host (how the source host reaches it over ssh), "
                     "evacuate_cold.xenapi.template (the new VM's template) are not set."]


@pytest.mark.parametrize("xenapi, template, named", [
    # a pool given as a string, not a dict: its url is missing
    (dict(pool="https://pool-b", ssh=dict(host="h"), template="T"), "", "evacuate_cold.xenapi.pool.url"),
    # a template set empty is not replaced by the inventory's (the resize role would get it empty)
    (dict(pool=dict(url="u"), ssh=dict(host="h"), template=""), "Debian", "evacuate_cold.xenapi.template"),
    (dict(pool=dict(url="u"), ssh=None), "T", "evacuate_cold.xenapi.ssh.host"),
])
def test_cold_migration_one_xenapi_setting_missing(xenapi, template, named):
    found = cold_migration_problems("xenapi", dict(xenapi=xenapi), "", template)
    assert len(found) == 1 and found[0].endswith("is not set.") and found[0].count("evacuate_cold.") == 1
    assert named + " (" in found[0]


def test_cold_migration_names_the_libvirt_destination():
    found = cold_migration_problems("libvirt", dict(ssh=dict(host="hv2")), "", "")
    assert found == ["Not moved cold: a libvirt instance goes cold to a named destination, over ssh, and "
                     "evacuate_libvirt_dest (the destination, named) is not set."]
    assert "evacuate_cold.ssh.host" in cold_migration_problems("libvirt", None, "qemu:///system", "")[0]

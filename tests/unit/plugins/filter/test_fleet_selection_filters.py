# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filters the live_migrate and evacuate playbooks shape the inventory with (they were Jinja chains):
the candidates' URIs, the instances an evacuation moves or skips, the destination by driver, and what a
failed migration is recorded as."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.novaops.compute.plugins.filter.evacuation_scope import evacuation_scope
from ansible_collections.novaops.compute.plugins.filter.for_driver import for_driver
from ansible_collections.novaops.compute.plugins.filter.libvirt_candidates import libvirt_candidates
from ansible_collections.novaops.compute.plugins.filter.migration_failure import migration_failure

HVS = [dict(name="hv1", uri="qemu+tcp://hv1/system"), dict(name="hv2", uri="qemu+tcp://hv2/system"),
       dict(name="hv3", uri="qemu+tcp://hv3/system"), dict(uri="qemu+tcp://anon/system")]


@pytest.mark.parametrize("leaving,uris", [
    ("hv1", ["hv2", "hv3", "anon"]), (["hv1", "hv3"], ["hv2", "anon"]), ("", ["hv1", "hv2", "hv3", "anon"]),
    (None, ["hv1", "hv2", "hv3", "anon"]), ("hv9", ["hv1", "hv2", "hv3", "anon"]), ([], ["hv1", "hv2", "hv3", "anon"]),
])
def test_the_candidates_are_the_other_hypervisors_uris_in_order(leaving, uris):
    assert libvirt_candidates(HVS, leaving) == ["qemu+tcp://%s/system" % u for u in uris]


@pytest.mark.parametrize("hypervisors,leaving", [("hv1", "hv1"), ([{"name": "hv1"}], "hv1"), (HVS, 3), (HVS, [1])])
def test_bad_candidates_input_is_refused_naming_it(hypervisors, leaving):
    with pytest.raises(AnsibleFilterError, match="libvirt_candidates"):
        libvirt_candidates(hypervisors, leaving)


HOSTVARS = {"a": dict(novaops_hypervisor="hv1"), "b": dict(novaops_hypervisor="hv1"), "c": dict(novaops_hypervisor="hv2"),
            "d": dict(novaops_hypervisor="hv1"), "e": dict(), "x": dict(novaops_hypervisor="xenhost-01")}
GROUPS = {"running": ["a", "b", "c", "d", "e", "x"], "busy": ["d", "c", "z"]}


def test_an_evacuation_moves_the_running_instances_there_and_skips_the_busy_ones():
    assert evacuation_scope("hv1", GROUPS, HOSTVARS) == dict(hypervisors=["hv1"], found=["a", "b"], skipped=["d"])


def test_several_hypervisors_in_one_evacuation():
    scope = evacuation_scope(["hv1", "xenhost-01", "hv2"], GROUPS, HOSTVARS)
    assert scope == dict(hypervisors=["hv1", "xenhost-01", "hv2"], found=["a", "b", "x"], skipped=["d", "c"])


def test_an_empty_inventory_or_hypervisor_finds_nothing():
    assert evacuation_scope("hv1", {}, {}) == dict(hypervisors=["hv1"], found=[], skipped=[])
    assert evacuation_scope("hv9", GROUPS, HOSTVARS)["found"] == []


def test_a_hypervisor_that_is_no_name_is_refused_naming_evacuate_hypervisor():
    with pytest.raises(AnsibleFilterError, match="evacuate_hypervisor must be a name or a list of names"):
        evacuation_scope({"hv1": 1}, GROUPS, HOSTVARS)


def test_the_setting_of_the_instances_driver():
    assert for_driver("libvirt", libvirt="qemu+tcp://hv2/system", xenapi="xenhost-02") == "qemu+tcp://hv2/system"
    assert for_driver("xenapi", libvirt="qemu+tcp://hv2/system", xenapi="xenhost-02") == "xenhost-02"
    assert for_driver("xenapi", libvirt="qemu+tcp://hv2/system") is None
    with pytest.raises(AnsibleFilterError, match="the driver is 'hyperv', not one of libvirt, xenapi"):
        for_driver("hyperv", libvirt="x", xenapi="y")


LOCK = dict(operation="xen_snapshot", owner="hv1:42", started_at="2026-01-01T00:00:00Z")


@pytest.mark.parametrize("failed,record", [
    (dict(failed=True, msg="busy", operation_lock=dict(busy=LOCK)), dict(status="skipped", task=LOCK, msg="busy")),
    (dict(failed=True, msg="no memory"), dict(status="failed", task=None, msg="no memory")),
    (dict(failed=True, operation_lock=dict(cleared=[LOCK])), dict(status="failed", task=None, msg="failed")),
    (dict(failed=True, msg=["a", 1]), dict(status="failed", task=None, msg="['a', 1]")),
    (None, dict(status="failed", task=None, msg="failed")),
])
def test_a_refusal_for_a_busy_lock_is_skipped_any_other_failure_failed(failed, record):
    assert migration_failure(failed) == record


def test_the_record_keeps_the_fields_given_beside_the_verdict():
    failed = dict(failed=True, msg="no memory")
    assert migration_failure(failed, how="live", source="hv1", dest="qemu+tcp://hv2/system", duration=None) == dict(
        status="failed", task=None, msg="no memory", how="live", source="hv1", dest="qemu+tcp://hv2/system",
        duration=None)
    busy = migration_failure(dict(failed=True, msg="busy", operation_lock=dict(busy=LOCK)), how="live", source="hv1")
    assert busy == dict(status="skipped", task=LOCK, msg="busy", how="live", source="hv1")


LIVE = dict(status="failed", task=None, msg="the destination refused the CPU.", how="live", source="hv1",
            dest="qemu+tcp://hv2/system", duration=1.5)


@pytest.mark.parametrize("failed,cold", [
    (dict(failed=True, msg="no space on the destination SR."), "no space on the destination SR."),
    (dict(failed=True), "failed"),
    # a cold migration refused for a busy lock stays failed: the live failure's status is kept
    (dict(failed=True, msg="busy", operation_lock=dict(busy=LOCK)), "busy"),
])
def test_a_cold_fallback_that_fails_keeps_the_live_record_with_both_messages(failed, cold):
    assert migration_failure(failed, after_live=LIVE) == dict(
        LIVE, how="live, then cold", msg="live migration: the destination refused the CPU. Cold migration: " + cold)
    assert list(migration_failure(failed, after_live=LIVE)) == list(LIVE)       # the report's columns, in order

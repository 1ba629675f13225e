# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common import instance_health as health


def libvirt(state, reason=0, desired="running", **more):
    power, why = health.libvirt_power_state(state, reason)
    return dict(dict(driver="libvirt", power_state=power, state_reason=why,
                     desired_state=health.libvirt_desired_state(desired)), **more)


def xen(power, desired="running", **more):
    return dict(dict(driver="xenapi", power_state=health.xen_power_state(power),
                     desired_state=health.xen_desired_state(desired)), **more)


def test_healthy_running_instance():
    found = health.classify(libvirt("running", 1))
    assert found == dict(state="running", groups=["running"], needs_repair=False, busy=False, reasons=[], repair=None)


@pytest.mark.parametrize("state,reason,group,text", [
    ("shutoff", 3, "crashed", "crashed, desired running"),                 # QEMU killed
    ("shutoff", 2, "shutoff", "shutoff (destroyed), desired running"),      # virsh destroy
    ("shutoff", 1, "shutoff", "shutoff (shutdown), desired running"),       # shut down from inside
    ("crashed", 1, "crashed", "crashed (panicked), desired running"),       # guest panic
    ("paused", 1, "paused", "paused, desired running"),
    ("saved", 0, "suspended", "suspended, desired running"),
])
def test_libvirt_desired_running_but_not_running(state, reason, group, text):
    found = health.classify(libvirt(state, reason))
    assert found["groups"] == [group, "needs_repair"]
    assert found["reasons"] == [text]
    assert found["repair"] == health.HARD_REBOOT


def test_running_with_missing_base_and_port_needs_repair():
    found = health.classify(libvirt("running", missing_base=["/i/_base/abc"], missing_ports=["p1"]))
    assert found["needs_repair"] and found["state"] == "running"
    assert found["reasons"] == ["base file /i/_base/abc is missing", "OVS port of VIF p1 is missing"]


def test_ports_of_a_stopped_instance_are_not_judged():
    found = health.classify(libvirt("shutoff", 1, desired="shutdown", missing_ports=["p1"]))
    assert not found["needs_repair"] and found["groups"] == ["shutoff"]


def test_desired_shutdown_but_running_converges():
    found = health.classify(libvirt("running", 1, desired="shutdown"))
    assert found["needs_repair"] and found["repair"] == health.CONVERGE
    assert found["reasons"] == ["running, desired shutoff"]


def test_no_desired_state_no_verdict():
    for desired in (None, "defined", "undefined"):
        found = health.classify(libvirt("shutoff", 3, desired=desired, missing_base=["/x"]))
        assert not found["needs_repair"] and found["reasons"] == [] and found["groups"] == ["crashed"]


def test_busy_is_never_repaired_but_keeps_its_findings():
    found = health.classify(libvirt("shutoff", 3, task=dict(operation="resize")))
    assert found["busy"] and not found["needs_repair"] and found["repair"] is None
    assert found["groups"] == ["crashed", "busy"]
    assert found["reasons"] == ["crashed, desired running"]


def test_rescued_is_never_repaired():
    found = health.classify(xen("halted", rescued=True))
    assert found["groups"] == ["shutoff", "rescued"] and not found["needs_repair"]
    assert found["reasons"] == ["shutoff, desired running"]


@pytest.mark.parametrize("power,desired,broken,repair", [
    ("Running", "running", False, None),
    ("Halted", "running", True, health.HARD_REBOOT),
    ("Halted", "rebooted", True, health.HARD_REBOOT),
    ("Halted", "halted", False, None),
    ("Running", "halted", True, health.CONVERGE),
    ("Suspended", "suspended", False, None),
    ("Paused", "running", True, health.HARD_REBOOT),
    ("Halted", "present", False, None),
    ("Halted", None, False, None),
])
def test_xen(power, desired, broken, repair):
    found = health.classify(xen(power, desired))
    assert found["needs_repair"] is broken and found["repair"] == repair
    assert found["state"] == health.xen_power_state(power)


def test_unknown_power_state_is_in_no_state_group():
    found = health.classify(dict(driver="libvirt", power_state=None, desired_state="running"))
    assert found["groups"] == ["needs_repair"] and found["reasons"] == ["unknown, desired running"]


def test_every_group_is_listed():
    assert set(health.GROUPS) >= set(health.POWER_STATES) | {"needs_repair", "busy", "rescued"}


@pytest.mark.parametrize("instance", [
    # libvirt: the source's definition, shut off after the migration, its original in <uuid>_resize
    libvirt("shutoff", 1, resize="/i/u_resize/resize.json is there"),
    # XenServer: the original renamed <name>-orig, halted until confirm or revert
    xen("halted", resize="the original, renamed; novaops_resize_prior_state=running"),
])
def test_an_instance_in_resize_verify_is_busy_not_repaired(instance):
    """Nova's RESIZED allowed only confirm and revert: a hard reboot of the original would start it beside
    the copy at the destination."""
    found = health.classify(instance)
    assert not found["needs_repair"] and found["repair"] is None and found["busy"]
    assert found["groups"] == ["shutoff", "busy"]
    assert found["reasons"][0].startswith("shutoff")
    assert found["reasons"][-1] == "a resize is not over (%s): confirm or revert it first" % instance["resize"]


def test_a_healthy_resized_copy_is_busy_with_the_resize_as_its_reason():
    found = health.classify(xen("running", resize="the resized copy; novaops_resize_of=u1"))
    assert found["groups"] == ["running", "busy"] and not found["needs_repair"]
    assert found["reasons"] == ["a resize is not over (the resized copy; novaops_resize_of=u1): confirm or revert "
                                "it first"]

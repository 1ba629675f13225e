# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the XenAPI operation lock costs: the calls it makes to take and release its mark.

The fake is xapi's other_config map of one VM with the semantics the lock relies on
(add_to_other_config refuses a key that is there: MAP_DUPLICATE_KEY); the run itself, with
xen_vm, against the simulator is bench/operation_lock.py and the operation_lock target.
"""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common import operation_lock as lock
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.operation_lock import XenOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIError


RELEASES = lock.XENAPI_RELEASES_KEY


class FakeXapi:
    def __init__(self, other_config=None, cls="VM"):
        self.other_config = dict(other_config or {})
        self.cls = cls
        self.calls = []
        self.before_add = None      # what another run does just before this one's add (once)

    def call(self, method, ref, *args):
        self.calls.append(method)
        assert ref == "OpaqueRef:vm" and method.startswith(self.cls + ".")
        method = method.split(".", 1)[1]
        if method == "get_other_config":
            return dict(self.other_config)
        if method == "add_to_other_config":
            meanwhile, self.before_add = self.before_add, None
            if meanwhile:
                meanwhile()
            if args[0] in self.other_config:
                raise XenAPIError("MAP_DUPLICATE_KEY", [self.cls, "other_config", ref, args[0]])
            self.other_config[args[0]] = args[1]
        elif method == "remove_from_other_config":
            self.other_config.pop(args[0], None)
        elif method == "set_other_config":
            self.other_config = dict(args[0])
        return ""


def vm_lock(xapi, other_config):
    return XenOperationLock(xapi, "VM", "OpaqueRef:vm", "VM v1", "xen_vm running", {}, other_config=other_config)


def test_a_run_that_writes_other_config_anyway_takes_and_releases_in_two_calls():
    xapi = FakeXapi({"novaops_desired_state": "halted"})
    held = vm_lock(xapi, xapi.other_config)          # the record the module has just read
    assert held.admit(True) == []
    with held.held():
        assert lock.XENAPI_KEY in xapi.other_config
        assert held.ride("OpaqueRef:vm", {"novaops_desired_state": "running"})
        assert xapi.other_config["novaops_desired_state"] == "halted"      # written with the release
        held.seen(xapi.other_config)                 # the module's read at the end
    assert xapi.calls == ["VM.add_to_other_config", "VM.set_other_config"]
    assert xapi.other_config == {"novaops_desired_state": "running", RELEASES: "1"}     # one release counted
    assert held.final_other_config == xapi.other_config


def test_without_a_read_of_its_own_the_release_reads_and_leaves_another_runs_mark():
    xapi = FakeXapi()
    held = vm_lock(xapi, {})
    with held.held():
        held.ride("OpaqueRef:vm", {"novaops_desired_state": "running"})
        other = lock.to_json(lock.new_mark("xen_vm halted", owner="hv9:1"))
        xapi.other_config[lock.XENAPI_KEY] = other   # cleared as stale elsewhere and taken meanwhile
    assert xapi.calls == ["VM.add_to_other_config", "VM.get_other_config", "VM.set_other_config"]
    assert xapi.other_config == {lock.XENAPI_KEY: other, "novaops_desired_state": "running"}


def test_a_run_with_nothing_to_ride_drops_its_mark_and_counts_it_and_a_second_run_is_refused():
    xapi = FakeXapi({RELEASES: "41"})
    held = vm_lock(xapi, dict(xapi.other_config))
    with held.held():
        with pytest.raises(lock.InstanceBusy, match="is busy"):
            with vm_lock(xapi, {}).held():           # admitted on a read from before the mark
                pass
        held.seen(xapi.other_config)
    assert xapi.calls == ["VM.add_to_other_config", "VM.add_to_other_config", "VM.get_other_config",
                          "VM.set_other_config"]
    assert xapi.other_config == {RELEASES: "42"}


def test_a_vdi_mark_is_removed_and_not_counted():
    xapi = FakeXapi(cls="VDI")
    held = XenOperationLock(xapi, "VDI", "OpaqueRef:vm", "VDI d1", "vhd_migrate", {}, other_config={})
    with held.held():
        assert not held.unchanged_since_admission()      # no count on a VDI: the caller reads again
        held.seen(xapi.other_config)
    assert xapi.calls == ["VDI.add_to_other_config", "VDI.remove_from_other_config"]
    assert xapi.other_config == {}


# -- the read under the mark: does the plan made on the first read still stand? ---------------------
def another_run(xapi, change):
    """A whole other run: takes the mark, changes the VM, releases."""
    def run():
        with vm_lock(xapi, None).held():
            change()
    return run


def test_the_read_under_the_mark_is_one_short_call_when_nobody_came_between():
    xapi = FakeXapi({"novaops_desired_state": "halted"})
    held = vm_lock(xapi, dict(xapi.other_config))
    held.admit(True)
    with held.held():
        assert held.unchanged_since_admission()
    assert xapi.calls[:2] == ["VM.add_to_other_config", "VM.get_other_config"]


def test_a_run_that_took_changed_and_released_between_the_first_read_and_the_mark_is_noticed():
    xapi = FakeXapi({"novaops_desired_state": "halted"})
    first_read = dict(xapi.other_config)
    xapi.before_add = another_run(xapi, lambda: None)       # even a change outside other_config
    held = vm_lock(xapi, first_read)
    with held.held():
        assert not held.unchanged_since_admission()


def test_after_a_stale_mark_was_cleared_the_caller_reads_again():
    dead = lock.to_json(lock.new_mark("xen_vdi_resize", owner="elsewhere:1", now=0))
    xapi = FakeXapi({lock.XENAPI_KEY: dead})
    held = XenOperationLock(xapi, "VM", "OpaqueRef:vm", "VM v1", "xen_vm running", dict(clear_stale_lock=True),
                            other_config=dict(xapi.other_config))
    assert held.admit(True) == ["clear_stale_lock"]
    with held.held():
        calls = len(xapi.calls)
        assert not held.unchanged_since_admission() and len(xapi.calls) == calls


class Power(Manager):
    """A VM's power state (kept beside the fake's other_config) under the XenAPI lock, planned like xen_vm."""

    AFTER_READ_UNDER_LOCK = True

    def __init__(self, xapi, vm, wanted):
        super().__init__(type("Module", (), dict(params={}, check_mode=False, _diff=False))())
        self.xapi, self.vm, self.wanted = xapi, vm, wanted
        self.started = 0

    def read(self):
        return dict(power=self.vm["power"], other_config=self.xapi.call("VM.get_other_config", "OpaqueRef:vm"))

    def plan(self, before, plan):
        if before["power"] != self.wanted:
            plan.add("start", self.start)
        return dict(before, power=self.wanted)

    def start(self):
        assert self.vm["power"] == "Halted", "started a running VM: planned on a stale read"
        self.vm["power"] = "Running"
        self.started += 1

    def operation_lock(self, before):
        return vm_lock(self.xapi, before["other_config"])

    def lock_view(self, facts):
        return facts["other_config"]


def test_a_plan_made_stale_by_another_run_is_made_again_under_the_mark():
    xapi = FakeXapi()
    vm = dict(power="Halted")
    xapi.before_add = another_run(xapi, lambda: vm.update(power="Running"))
    result = Power(xapi, vm, "Running").converge()
    assert result["actions"] == [] and vm["power"] == "Running"
    quiet = FakeXapi()
    vm = dict(power="Halted")
    manager = Power(quiet, vm, "Running")
    assert manager.converge()["actions"] == ["start"] and manager.started == 1
    assert quiet.calls == ["VM.get_other_config", "VM.add_to_other_config", "VM.get_other_config",
                           "VM.get_other_config", "VM.set_other_config"]

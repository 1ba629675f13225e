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
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.operation_lock import XenOperationLock
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIError


class FakeXapi:
    def __init__(self, other_config=None):
        self.other_config = dict(other_config or {})
        self.calls = []

    def call(self, method, ref, *args):
        self.calls.append(method)
        assert ref == "OpaqueRef:vm"
        if method == "VM.get_other_config":
            return dict(self.other_config)
        if method == "VM.add_to_other_config":
            if args[0] in self.other_config:
                raise XenAPIError("MAP_DUPLICATE_KEY", ["VM", "other_config", ref, args[0]])
            self.other_config[args[0]] = args[1]
        elif method == "VM.remove_from_other_config":
            self.other_config.pop(args[0], None)
        elif method == "VM.set_other_config":
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
    assert xapi.other_config == {"novaops_desired_state": "running"}
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


def test_a_run_with_nothing_to_ride_removes_its_mark_and_a_second_run_is_refused():
    xapi = FakeXapi()
    held = vm_lock(xapi, {})
    with held.held():
        with pytest.raises(lock.InstanceBusy, match="is busy"):
            with vm_lock(xapi, {}).held():           # admitted on a read from before the mark
                pass
        held.seen(xapi.other_config)
    assert xapi.calls == ["VM.add_to_other_config", "VM.add_to_other_config", "VM.get_other_config",
                          "VM.remove_from_other_config"]
    assert xapi.other_config == {}

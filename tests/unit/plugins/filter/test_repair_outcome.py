# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What fleet_repair.yml records a repair left (it was a chained if/else in Jinja): the result of the task that
did the repair, by the repair and the driver, its power state named as the inventory names desired states."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.filter.repair_outcome import repair_outcome

SKIPPED = dict(skipped=True, changed=False)
RESULTS = dict(
    hard_reboot=dict(actions=["destroy", "start"]),
    hard_reboot_seen=dict(domains=[dict(state="running")], vm=dict(power_state="running")),
    libvirt=dict(actions=["shutdown"], domain=dict(state="shutoff")),
    xenapi=dict(actions=["suspend"], vm=dict(power_state="suspended")))


@pytest.mark.parametrize("repair,driver,left", [
    ("hard_reboot", "libvirt", dict(after="running", actions=["destroy", "start"])),
    ("hard_reboot", "xenapi", dict(after="running", actions=["destroy", "start"])),
    ("converge", "libvirt", dict(after="shutoff", actions=["shutdown"])),
    ("converge", "xenapi", dict(after="suspended", actions=["suspend"])),
])
def test_the_task_that_repaired_is_read(repair, driver, left):
    assert repair_outcome(RESULTS, repair, driver) == left


@pytest.mark.parametrize("state,after", [("halted", "shutoff"), ("saved", "suspended"), ("paused", "paused"),
                                         ("crashed", "crashed"), ("Running", None), ("blocked", None), (None, None)])
def test_power_states_as_the_inventory_names_them(state, after):
    results = dict(xenapi=dict(vm=dict(power_state=state)), libvirt=dict(domain=dict(state=state)))
    assert repair_outcome(results, "converge", "xenapi")["after"] == after
    assert repair_outcome(results, "converge", "libvirt")["after"] == after


def test_nothing_known_when_the_read_back_or_the_result_is_missing():
    assert repair_outcome({}, "hard_reboot", "libvirt") == dict(after=None, actions=[])
    assert repair_outcome(dict(hard_reboot_seen=dict(domains=[])), "hard_reboot", "libvirt")["after"] is None
    assert repair_outcome(dict(libvirt=SKIPPED, xenapi=SKIPPED), "converge", "xenapi") == dict(after=None, actions=[])
    assert repair_outcome(None, "converge", "libvirt") == dict(after=None, actions=[])

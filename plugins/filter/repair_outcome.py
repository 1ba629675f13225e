# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter fleet_repair.yml reads what a repair left with: the power state the instance is in after it
(as the inventory names power states) and the actions taken, from whichever task did the repair."""

from __future__ import annotations

from collections.abc import Mapping

# the power states of libvirt_domain(_info) and xen_vm(_info) as the inventory's novaops_desired_state names them
POWER = dict(running="running", shutoff="shutoff", halted="shutoff", paused="paused", saved="suspended",
             suspended="suspended", crashed="crashed")


def _get(value, *keys):
    for key in keys:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int):
            value = value[key] if len(value) > key else None
        else:
            return None
    return value


def _seen(results, repair, driver):
    """The power state the task that did the repair read back: the hard_reboot role's read-back (hard_reboot_seen),
    else the module's own result; libvirt domains name it state, XenAPI VMs power_state."""
    if repair == "hard_reboot":
        seen = results.get("hard_reboot_seen")
        return _get(seen, "domains", 0, "state") if driver == "libvirt" else _get(seen, "vm", "power_state")
    if driver == "libvirt":
        return _get(results.get("libvirt"), "domain", "state")
    return _get(results.get("xenapi"), "vm", "power_state")


def repair_outcome(results, repair, driver):
    """dict(after, actions) of a repair: ``results`` holds hard_reboot (the role's hard_reboot_result),
    hard_reboot_seen, libvirt and xenapi (the converge tasks' results); ``repair`` is novaops_repair
    (hard_reboot or converge), ``driver`` novaops_driver."""
    results = results if isinstance(results, Mapping) else {}
    if repair == "hard_reboot":
        did = results.get("hard_reboot")
    else:
        did = results.get("libvirt") if driver == "libvirt" else results.get("xenapi")
    seen = _seen(results, repair, driver)
    actions = _get(did, "actions")
    return dict(after=POWER.get(seen) if isinstance(seen, str) else None,
                actions=list(actions) if isinstance(actions, list) else [])


class FilterModule:
    def filters(self):
        return {"repair_outcome": repair_outcome}

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Which hosts of the inventory a fleet playbook works on, from the groups and variables the inventory
plugins (fleet_inventory) set: the evacuation's running instances on the hypervisors it empties, and the
busy ones among them that it leaves alone.  Used by the filters evacuation_scope and libvirt_candidates."""

from __future__ import annotations


class SelectionError(ValueError):
    """An input the operator set is not what the selection takes; the message names it."""


def names(value, what):
    """One name or a list of names, as a list (evacuate_hypervisor may be either); an empty name is none."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise SelectionError("%s must be a name or a list of names, not %s" % (what, type(value).__name__))


def _unique(items):
    seen = set()
    return [item for item in items if not (item in seen or seen.add(item))]


def evacuation_scope(hypervisor, groups, hostvars):
    """dict(hypervisors, found, skipped): the hypervisors named (one or a list), the running instances on
    them that no operation lock holds (to move), and the busy ones (left alone), each in the inventory's
    order.  An instance counts as on a hypervisor by its novaops_hypervisor."""
    wanted = names(hypervisor, "evacuate_hypervisor")
    running = _unique(str(host) for host in groups.get("running") or [])
    on_them = [host for host in running if hostvars[host].get("novaops_hypervisor", None) in wanted]
    busy = set(str(host) for host in groups.get("busy") or [])
    skipped = _unique(str(host) for host in groups.get("busy") or [] if str(host) in on_them)
    return dict(hypervisors=wanted, found=[host for host in on_them if host not in busy], skipped=skipped)

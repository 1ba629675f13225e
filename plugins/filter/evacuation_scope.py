# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter evacuate.yml finds its instances with (plugin_utils.fleet_selection.evacuation_scope)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.novaops.compute.plugins.plugin_utils import fleet_selection


def evacuation_scope(hypervisor, groups, hostvars):
    """dict(hypervisors, found, skipped) of the evacuation of ``hypervisor`` (a name or a list)."""
    try:
        return fleet_selection.evacuation_scope(hypervisor, groups, hostvars)
    except fleet_selection.SelectionError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"evacuation_scope": evacuation_scope}

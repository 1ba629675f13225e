# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter live_migrate.yml and evacuate.yml give libvirt_migrate its candidates with: the inventory's
libvirt hypervisors, less the ones the instances leave, as URIs."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_selection import SelectionError, names


def libvirt_candidates(hypervisors, leaving=None):
    """The URI of each of ``hypervisors`` (the libvirt inventory's novaops_hypervisors_libvirt: dicts with
    ``name`` and ``uri``), in their order, but for those named in ``leaving`` (a name or a list of them)."""
    if not isinstance(hypervisors, list) or not all(isinstance(h, dict) and "uri" in h for h in hypervisors):
        raise AnsibleFilterError("libvirt_candidates: the hypervisors must be a list of dicts with a uri "
                                 "(novaops_hypervisors_libvirt), not %r" % (hypervisors,))
    try:
        left = set(names(leaving, "libvirt_candidates: the hypervisors left"))
    except SelectionError as exc:
        raise AnsibleFilterError(str(exc))
    return [h["uri"] for h in hypervisors if h.get("name") not in left]


class FilterModule:
    def filters(self):
        return {"libvirt_candidates": libvirt_candidates}

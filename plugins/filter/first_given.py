# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter a role passes options a module takes only one of with (mutually exclusive): of those given
in order of precedence, the first that is set, the others left out (live_migrate's host or leave_host,
xen_vm_info's uuid or name)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def first_given(options):
    """{name: value} of the first of ``options`` (a map in order of precedence) whose value is set - not
    none, not empty, not false, as ``x or omit`` reads it - else {}: each option is then passed as
    ``<result>.<name> | default(omit)``, so the module never sees two of them."""
    if not isinstance(options, Mapping):
        raise AnsibleFilterError("first_given: expected a map of option names to values in order of precedence, "
                                 "got %s" % type(options).__name__)
    for name, value in options.items():
        if value:
            return {name: value}
    return {}


class FilterModule:
    def filters(self):
        return {"first_given": first_given}

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Check a role's driver and flavor on the controller, naming the inventory variables.

An action plugin, not a module: it looks only at values the controller already has, so
shipping a module to the host would only cost time on every role run.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.novaops.compute.plugins.plugin_utils.instance_inputs import cold_migration_problems, problems

ARGS = dict(role=dict(type="str", required=True),
            driver=dict(type="raw"),
            flavor=dict(type="raw"),
            cold_migration=dict(type="raw"),
            cold_dest=dict(type="raw", default=""),
            template=dict(type="raw", default=""))


class ActionModule(ControllerAction):
    ARGS = ARGS

    def run_on_controller(self, args, task_vars, result):
        found = problems(args["role"], args["driver"], args["flavor"] if "flavor" in self._task.args else None)
        if "cold_migration" in self._task.args:
            found += cold_migration_problems(args["driver"], args["cold_migration"], args["cold_dest"], args["template"])
        result["changed"] = False
        if found:
            result.update(failed=True, msg=" ".join(found))
        return result

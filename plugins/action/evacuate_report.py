# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Write the evacuation report on the controller (JSON and HTML), from the run's host variables.

An action plugin, not a module, for the reasons fleet_repair_report gives: the report is made of
every host's variables, which only the controller has.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.novaops.compute.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.novaops.compute.plugins.plugin_utils.evacuate_report import evacuate_html, evacuate_report
from ansible_collections.novaops.compute.plugins.plugin_utils.report_files import REPORT_ARGS, host_vars, write_report

ARGS = dict(REPORT_ARGS,
            hypervisors=dict(type="list", elements="str", required=True),
            found=dict(type="list", elements="str", default=[]),
            skipped=dict(type="list", elements="str", default=[]),
            cold_fallback=dict(type="bool", default=False))
HOST_KEYS = ("novaops_name", "novaops_uuid", "novaops_driver", "novaops_hypervisor", "novaops_task",
             "evacuate_outcome")


class ActionModule(ControllerAction):
    ARGS = ARGS

    def run_on_controller(self, args, task_vars, result):
        hostvars = task_vars["hostvars"]
        run = dict(run_id=args["run_id"], started=args["started"], finished=args["finished"], final=args["final"],
                   check_mode=self._task.check_mode, cold_fallback=args["cold_fallback"])
        report = evacuate_report(args["hypervisors"], host_vars(hostvars, args["found"], HOST_KEYS),
                                 host_vars(hostvars, args["skipped"], HOST_KEYS), run)
        try:
            files = write_report(args["dir"], "evacuate", args["run_id"], report, evacuate_html(report),
                                 args["final"])
        except OSError as exc:
            raise AnsibleActionFail("Cannot write the evacuation report into %s: %s" % (args["dir"], exc))
        result.update(changed=False, report=report, files=files)
        return result

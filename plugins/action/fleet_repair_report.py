# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Write the fleet repair report on the controller (JSON and HTML), from the run's host variables.

An action plugin, not a module: the report is made of every host's variables, which only the
controller has, and writing two small files there needs no module shipped to a host - what
two ``copy`` tasks per batch would cost (seconds each on a busy controller).
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.novaops.compute.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_report import fleet_repair_html, fleet_repair_report
from ansible_collections.novaops.compute.plugins.plugin_utils.report_files import REPORT_ARGS, host_vars, write_report

ARGS = dict(REPORT_ARGS,
            found=dict(type="list", elements="str", default=[]),
            skipped=dict(type="list", elements="str", default=[]),
            still_broken=dict(type="list", elements="str"),
            unreachable=dict(type="list", elements="dict", default=[]))
# what the report reads of each host (templating all its variables would be slow, and fail on any bad one)
HOST_KEYS = ("novaops_name", "novaops_uuid", "novaops_driver", "novaops_hypervisor", "novaops_repair_reasons",
             "novaops_busy", "novaops_task", "fleet_repair_outcome")


class ActionModule(ControllerAction):
    ARGS = ARGS

    def run_on_controller(self, args, task_vars, result):
        hostvars = task_vars["hostvars"]
        run = dict(run_id=args["run_id"], started=args["started"], finished=args["finished"], final=args["final"],
                   check_mode=self._task.check_mode, unreachable=args["unreachable"])
        report = fleet_repair_report(host_vars(hostvars, args["found"], HOST_KEYS),
                                     host_vars(hostvars, args["skipped"], HOST_KEYS), args["still_broken"], run)
        try:
            files = write_report(args["dir"], "fleet_repair", args["run_id"], report, fleet_repair_html(report),
                                 args["final"])
        except OSError as exc:
            raise AnsibleActionFail("Cannot write the fleet repair report into %s: %s" % (args["dir"], exc))
        result.update(changed=False, report=report, files=files)
        return result

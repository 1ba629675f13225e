# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Write the evacuation report on the controller (JSON and HTML), from the run's host variables.

An action plugin, not a module, for the reasons fleet_repair_report gives: the report is made of
every host's variables, which only the controller has.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.plugin_utils.evacuate_report import evacuate_html, evacuate_report
from ansible_collections.novaops.compute.plugins.plugin_utils.report_action import ReportAction
from ansible_collections.novaops.compute.plugins.plugin_utils.report_files import REPORT_ARGS

ARGS = dict(REPORT_ARGS,
            hypervisors=dict(type="list", elements="str", required=True),
            found=dict(type="list", elements="str", default=[]),
            skipped=dict(type="list", elements="str", default=[]),
            cold_fallback=dict(type="bool", default=False))


class ActionModule(ReportAction):
    ARGS = ARGS
    PREFIX = "evacuate"
    WHAT = "evacuation report"
    HOST_KEYS = ("novaops_name", "novaops_uuid", "novaops_driver", "novaops_hypervisor", "novaops_task",
                 "evacuate_outcome")
    RUN_KEYS = ("cold_fallback",)
    SHOWN = (("moved", "dest"), ("failed", "msg"), ("skipped", "why"))

    def make_report(self, args, found, skipped, run):
        report = evacuate_report(args["hypervisors"], found, skipped, run)
        return report, evacuate_html(report)

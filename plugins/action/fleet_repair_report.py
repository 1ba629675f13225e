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

from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_report import fleet_repair_html, fleet_repair_report
from ansible_collections.novaops.compute.plugins.plugin_utils.report_action import ReportAction
from ansible_collections.novaops.compute.plugins.plugin_utils.report_files import REPORT_ARGS

ARGS = dict(REPORT_ARGS,
            found=dict(type="list", elements="str", default=[]),
            skipped=dict(type="list", elements="str", default=[]),
            still_broken=dict(type="list", elements="str"),
            verify=dict(type="bool", default=True),
            unreachable=dict(type="list", elements="dict", default=[]))


class ActionModule(ReportAction):
    ARGS = ARGS
    PREFIX = "fleet_repair"
    WHAT = "fleet repair report"
    # what the report reads of each host (templating all its variables would be slow, and fail on any bad one)
    HOST_KEYS = ("novaops_name", "novaops_uuid", "novaops_driver", "novaops_hypervisor", "novaops_repair_reasons",
                 "novaops_busy", "novaops_task", "fleet_repair_outcome")
    RUN_KEYS = ("unreachable", "verify")
    SHOWN = (("repaired", "reasons"), ("failed", "msg"), ("skipped", "why"))
    SHOWN_AS_IS = ("still_broken",)

    def make_report(self, args, found, skipped, run):
        report = fleet_repair_report(found, skipped, args["still_broken"], run)
        return report, fleet_repair_html(report)

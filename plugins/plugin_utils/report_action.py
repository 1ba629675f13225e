# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The base of the run report action plugins (evacuate_report, fleet_repair_report): the hosts'
variables read on the controller, the report made of them, written as JSON and HTML, and a file
that cannot be written failing the task with the directory named."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.novaops.compute.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_report import playbook_outputs
from ansible_collections.novaops.compute.plugins.plugin_utils.report_files import finished_at, host_vars, write_report


class ReportAction(ControllerAction):
    """A subclass names its files (``PREFIX``), the report in messages (``WHAT``), the host variables
    it reads (``HOST_KEYS``), its own options that go into the run's facts (``RUN_KEYS``), and what the
    playbook prints (``SHOWN``, ``SHOWN_AS_IS``: playbook_outputs' shown and as_is)."""
    PREFIX = None
    WHAT = None
    HOST_KEYS = ()
    RUN_KEYS = ()
    SHOWN = ()
    SHOWN_AS_IS = ()

    def run_on_controller(self, args, task_vars, result):
        hostvars = task_vars["hostvars"]
        run = dict(run_id=args["run_id"], started=args["started"], finished=finished_at(args["finished"], args["final"]),
                   final=args["final"], check_mode=self._task.check_mode)
        run.update((key, args[key]) for key in self.RUN_KEYS)
        report, page = self.make_report(args, host_vars(hostvars, args["found"], self.HOST_KEYS),
                                        host_vars(hostvars, args["skipped"], self.HOST_KEYS), run)
        try:
            files = write_report(args["dir"], self.PREFIX, args["run_id"], report, page, args["final"])
        except OSError as exc:
            raise AnsibleActionFail("Cannot write the %s into %s: %s" % (self.WHAT, args["dir"], exc))
        result.update(changed=False, report=report, files=files,
                      **playbook_outputs(self.PREFIX, report, files, self.SHOWN, self.SHOWN_AS_IS))
        return result

    def make_report(self, args, found, skipped, run):
        """The report (a dict) and its HTML page, from the options, the host variables of the hosts
        found and skipped, and the run's facts."""
        raise NotImplementedError

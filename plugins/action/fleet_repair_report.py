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

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.novaops.compute.plugins.plugin_utils.controller_action import ControllerAction
from ansible_collections.novaops.compute.plugins.plugin_utils.fleet_report import fleet_repair_html, fleet_repair_report

ARGS = dict(found=dict(type="list", elements="str", default=[]),
            skipped=dict(type="list", elements="str", default=[]),
            still_broken=dict(type="list", elements="str"),
            dir=dict(type="path", required=True),
            run_id=dict(type="str", required=True),
            started=dict(type="str"),
            finished=dict(type="str"),
            final=dict(type="bool", default=True),
            unreachable=dict(type="list", elements="dict", default=[]))
# what the report reads of each host (templating all its variables would be slow, and fail on any bad one)
HOST_KEYS = ("novaops_name", "novaops_uuid", "novaops_driver", "novaops_hypervisor", "novaops_repair_reasons",
             "novaops_busy", "novaops_task", "fleet_repair_outcome")


def _plain(value):
    """Host variables as plain JSON values (lazy containers and tagged strings included)."""
    return json.loads(json.dumps(value, default=to_native))


def _write(path, text):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ActionModule(ControllerAction):
    ARGS = ARGS

    def run_on_controller(self, args, task_vars, result):
        hostvars = task_vars["hostvars"]

        def host_vars(names):
            out = []
            for name in names:
                if name not in hostvars:
                    continue
                found = hostvars[name]
                out.append(dict(_plain(dict((key, found[key]) for key in HOST_KEYS if key in found)),
                                inventory_hostname=name))
            return out

        run = dict(run_id=args["run_id"], started=args["started"], finished=args["finished"], final=args["final"],
                   check_mode=self._task.check_mode, unreachable=args["unreachable"])
        report = fleet_repair_report(host_vars(args["found"]), host_vars(args["skipped"]), args["still_broken"], run)
        base = os.path.join(args["dir"], "fleet_repair-%s" % args["run_id"])
        names = [base]
        if args["final"]:
            names.append(os.path.join(args["dir"], "fleet_repair-latest"))
        try:
            os.makedirs(args["dir"], mode=0o755, exist_ok=True)
            page = fleet_repair_html(report)
            text = json.dumps(report, indent=2, sort_keys=True) + "\n"
            for name in names:
                _write(name + ".json", text)
                _write(name + ".html", page)
        except OSError as exc:
            raise AnsibleActionFail("Cannot write the fleet repair report into %s: %s" % (args["dir"], exc))
        result.update(changed=False, report=report, files=dict(json=base + ".json", html=base + ".html"))
        return result

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The base of the collection's action plugins that work on the controller alone.

They need no connection to the host and send it nothing; check mode changes nothing they do.
A subclass declares its options in ``ARGS`` (an argument spec) and implements ``run_on_controller``.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ControllerAction(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    ARGS = {}

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(argument_spec=self.ARGS)
        return self.run_on_controller(args, task_vars, result)

    def run_on_controller(self, args, task_vars, result):
        """The task's result: ``result`` (ActionBase's) updated, from the validated ``args``."""
        raise NotImplementedError

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Another module's manager run as one step of an operation, in the same process.

An operation such as a XenAPI resize is a sequence of what single modules do (xen_vm,
xen_vdi_resize, vhd_migrate), each step idempotent on its own, so that the whole resumes where
it stopped.  A step gets the parameters its module would get from a task - checked against that
module's argument spec and its input rules, defaults and environment fallbacks filled, an option left out as
``omit`` leaves it - and the caller's check mode and warnings; it returns that module's result.
"""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.input_rules import check_rules


class StepModule:
    """What a manager sees of its module, for one step: its own params, the caller's module for the rest."""

    def __init__(self, module, spec, params, check_mode):
        validator = ArgumentSpecValidator(
            spec.argument_spec, mutually_exclusive=spec.mutually_exclusive, required_together=spec.required_together,
            required_one_of=spec.required_one_of, required_if=spec.required_if, required_by=spec.required_by)
        # as a task leaves out what it does not set: a default given explicitly would count as set for the
        # spec's rules (mutually_exclusive of two options whose defaults are both given, say)
        given = dict((name, value) for name, value in params.items()
                     if value is not None and value != spec.argument_spec.get(name, {}).get("default"))
        checked = validator.validate(given)
        if checked.error_messages:
            # the caller builds these parameters from its own, already checked: a programming error
            raise NovaopsError("A step was given parameters its module refuses: %s" % "; ".join(checked.error_messages))
        self.params = checked.validated_parameters
        problem, _warnings = check_rules(spec.input_rules, self.params)    # the module's declared rules too
        if problem:
            raise NovaopsError(problem)
        self.check_mode = check_mode
        self._diff = False
        self._caller = module

    def __getattr__(self, name):
        # run_command, get_bin_path, warn, tmpdir, ...: the caller's
        return getattr(self._caller, name)


def run_step(module, manager_class, spec, params, *args, check_mode=None):
    """``manager_class(step_module, *args).converge()`` with ``params``; check mode defaults to the caller's."""
    step = StepModule(module, spec, params, module.check_mode if check_mode is None else check_mode)
    return manager_class(step, *args).converge()


def would_change(module, manager_class, spec, params, *args):
    """Whether the step has anything to do (its check-mode run, which changes nothing, predicts a change)."""
    return bool(run_step(module, manager_class, spec, params, *args, check_mode=True)["changed"])

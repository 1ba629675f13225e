# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one idempotence pattern every module follows: read, plan, apply or report, diff.

A manager reads the resource's current facts, plans a list of named actions that would
bring it to the wanted state, and either applies them (then reads the facts again) or,
in check mode, reports them with the facts it expects.  No planned action, no change:
a second identical run makes no mutating call because its plan is empty.

A manager whose resource is an instance names its operation lock (operation_lock()): a run
that changes something is admitted by it (refused when another operation marks the instance),
then holds it while it plans again and applies; a run with nothing to do never writes it.
"""

from __future__ import annotations

import copy
import functools
import time

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError


class Action:
    __slots__ = ("name", "detail", "_run")

    def __init__(self, name, run, detail=None):
        self.name = name
        self.detail = detail
        self._run = run

    def __call__(self):
        return self._run()


class Plan:
    """An ordered list of named actions; empty means the resource is already as wanted."""

    def __init__(self):
        self.actions = []

    def add(self, name, run, *args, **kwargs):
        """Queue run(*args, **kwargs) under name (e.g. 'start', 'set_vcpus')."""
        detail = kwargs.pop("detail", None)
        self.actions.append(Action(name, functools.partial(run, *args, **kwargs), detail))
        return self

    def __bool__(self):
        return bool(self.actions)

    def __len__(self):
        return len(self.actions)

    @property
    def names(self):
        return [action.name for action in self.actions]

    def apply(self):
        """Run the actions in order; a failure names what had already been done."""
        done = []
        for action in self.actions:
            try:
                action()
            except NovaopsError as exc:
                exc.facts.setdefault("actions_done", list(done))
                exc.facts.setdefault("action_failed", action.name)
                raise
            done.append(action.name)
        return done


class Manager:
    """Base of every module's manager (community.docker's one-module-one-manager shape).

    Subclasses implement read() -> facts dict (or None when the resource is absent) and
    plan(before, plan) -> the facts expected after the plan.  Optionally result(facts)
    shapes the facts into module return values, and diff_view(facts) picks what a
    diff shows.
    """

    # Read the facts after the change while the lock is still held: that read is then also the
    # lock's check before it releases (lock_view), and after_release() shows what the release did.
    AFTER_READ_UNDER_LOCK = False

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.lock = None

    def read(self):
        raise NotImplementedError

    def plan(self, before, plan):
        raise NotImplementedError

    def result(self, facts):
        return {}

    def diff_view(self, facts):
        return facts if facts is not None else {}

    def operation_lock(self, before):
        """The instance's operation lock (an OperationLock of xen_operation_lock or
        libvirt_operation_lock), or None when the resource has none."""
        return None

    def lock_view(self, facts):
        """What the lock checks before it releases, taken from the facts read at the end (AFTER_READ_UNDER_LOCK)."""
        return None

    def after_release(self, facts):
        """The facts read at the end under the lock, as the release left the instance."""
        return facts

    def apply(self, plan):
        """Run the plan (a subclass wraps it to undo a failed plan while the lock is still held)."""
        return plan.apply()

    def _apply_under_lock(self, plan):
        """Plan again and apply while the lock is held; the facts read at the end (AFTER_READ_UNDER_LOCK) or None."""
        after = None
        with self.lock.held():
            # planned again under the lock when another run may have changed the instance meanwhile
            if not self.lock.unchanged_since_admission():
                plan.actions = []
                self.plan(copy.deepcopy(self.read()), plan)
            self.apply(plan)
            if self.AFTER_READ_UNDER_LOCK:
                after = self.read()
                self.lock.seen(self.lock_view(after))
        return self.after_release(after) if self.AFTER_READ_UNDER_LOCK else None

    def converge(self):
        started = time.monotonic()
        before = self.read()
        plan = Plan()
        expected = self.plan(copy.deepcopy(before), plan)
        self.lock = self.operation_lock(before)
        lock_actions = self.lock.admit(bool(plan)) if self.lock is not None else []
        if (plan or lock_actions) and not self.module.check_mode:
            if self.lock is None:
                self.apply(plan)
            else:
                after = self._apply_under_lock(plan)
            if self.lock is None or not self.AFTER_READ_UNDER_LOCK:
                after = self.read()
        elif plan or lock_actions:
            after = expected
        else:
            after = before
        actions = lock_actions + plan.names
        result = dict(changed=bool(actions), actions=actions)
        result.update(self.result(after))
        if self.lock is not None and self.lock.report:
            result["operation_lock"] = self.lock.report
            for text in self.lock.warnings:
                self.module.warn(text)
        if self.module._diff:
            result["diff"] = dict(before=self.diff_view(before), after=self.diff_view(after))
        result["duration"] = round(time.monotonic() - started, 3)
        return result

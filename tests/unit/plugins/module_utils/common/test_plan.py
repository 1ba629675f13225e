# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager, Plan


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff


class Counter(Manager):
    """A resource with one integer 'value' kept in a dict, standing in for a VM field."""

    def __init__(self, module, store):
        super().__init__(module)
        self.store = store
        self.reads = 0

    def read(self):
        self.reads += 1
        return dict(self.store) if self.store else None

    def plan(self, before, plan):
        wanted = self.params["value"]
        if before is None:
            plan.add("create", self.store.update, value=wanted)
            return dict(value=wanted)
        if before["value"] != wanted:
            plan.add("set_value", self.store.__setitem__, "value", wanted)
            before["value"] = wanted
        return before

    def result(self, facts):
        return dict(resource=facts)


def test_converge_applies_then_second_run_is_unchanged():
    store = {}
    first = Counter(FakeModule(dict(value=3)), store).converge()
    assert first["changed"] is True and first["actions"] == ["create"]
    assert store == dict(value=3) and first["resource"] == dict(value=3)
    second = Counter(FakeModule(dict(value=3)), store).converge()
    assert second["changed"] is False and second["actions"] == []


def test_check_mode_reports_without_changing_and_predicts_after():
    store = dict(value=1)
    result = Counter(FakeModule(dict(value=5), check_mode=True, diff=True), store).converge()
    assert store == dict(value=1)
    assert result["changed"] is True and result["actions"] == ["set_value"]
    assert result["diff"] == dict(before=dict(value=1), after=dict(value=5))


def test_plan_failure_names_what_was_done():
    def boom():
        raise NovaopsError("disk full")

    plan = Plan().add("first", lambda: None).add("second", boom).add("third", lambda: None)
    with pytest.raises(NovaopsError) as caught:
        plan.apply()
    assert caught.value.facts["actions_done"] == ["first"]
    assert caught.value.facts["action_failed"] == "second"

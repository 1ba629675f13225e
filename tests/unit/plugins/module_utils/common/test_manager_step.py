# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A module's manager run as a step of another: its options as its task would get them (defaults,
environment fallbacks, an option left out as omit leaves it), the caller's check mode, its result."""

from __future__ import annotations

import pytest

from ansible.module_utils.basic import env_fallback

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.manager_step import StepModule, run_step, would_change
from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager

SPEC = ArgumentSpec(dict(
    value=dict(type="int", required=True),
    where=dict(type="str", fallback=(env_fallback, ["NOVAOPS_TEST_WHERE"])),
    items=dict(type="list", elements="dict", options=dict(name=dict(type="str"), on=dict(type="bool", default=True))),
    insecure=dict(type="bool", default=False),
    known_hosts=dict(type="str"),
), mutually_exclusive=[["insecure", "known_hosts"]])


class Caller:
    def __init__(self, check_mode=False):
        self.params = {}
        self.check_mode = check_mode
        self._diff = True
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


class Counter(Manager):
    def __init__(self, module, store):
        super().__init__(module)
        self.store = store

    def read(self):
        return dict(self.store)

    def plan(self, before, plan):
        if before.get("value") != self.params["value"]:
            plan.add("set_value", self.store.__setitem__, "value", self.params["value"])
            self.module.warn("set to %d" % self.params["value"])
        return dict(before, value=self.params["value"])


def test_the_step_gets_defaults_fallbacks_and_omitted_options(monkeypatch):
    monkeypatch.setenv("NOVAOPS_TEST_WHERE", "from-env")
    step = StepModule(Caller(), SPEC, dict(value="3", where=None, items=[dict(name="a")]), check_mode=False)
    assert step.params["value"] == 3 and step.params["where"] == "from-env"
    assert step.params["items"] == [dict(name="a", on=True)]
    assert step._diff is False


def test_an_option_at_its_default_counts_as_left_out():
    step = StepModule(Caller(), SPEC, dict(value=1, insecure=False, known_hosts="h ssh-ed25519 AAAA"), check_mode=False)
    assert step.params["insecure"] is False and step.params["known_hosts"]
    with pytest.raises(NovaopsError):
        StepModule(Caller(), SPEC, dict(value=1, insecure=True, known_hosts="h ssh-ed25519 AAAA"), check_mode=False)


def test_a_refused_option_is_an_error_not_a_crash():
    with pytest.raises(NovaopsError) as err:
        StepModule(Caller(), SPEC, dict(value="many"), check_mode=False)
    assert "value" in err.value.msg


def test_run_and_probe_follow_the_caller_check_mode_and_warnings():
    store = {}
    caller = Caller(check_mode=True)
    assert would_change(caller, Counter, SPEC, dict(value=1), store) and store == {}
    result = run_step(caller, Counter, SPEC, dict(value=1), store)
    assert result["changed"] and store == {}
    caller.check_mode = False
    assert run_step(caller, Counter, SPEC, dict(value=1), store)["actions"] == ["set_value"] and store == dict(value=1)
    assert not would_change(caller, Counter, SPEC, dict(value=1), store)
    assert "set to 1" in caller.warnings

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Input rules declared per option beside the argument spec, and the one checker that applies them.

An ArgumentSpec carries ``input_rules``: a dict from an option's path (``timeout``, ``glance.timeout``,
``disks.size_mb`` for each element of a list of dicts) to a Rule.  NovaopsModule checks them right after
ansible-core's own validation; every refusal is a sentence naming the option as the operator set it
(``disks[1].size_mb``).
"""

from __future__ import annotations

import math

# A wait longer than a year is a mistake, and larger numbers overflow the C time of sockets and locks.
TIMEOUT_MAX = 366 * 24 * 3600


class Rule:
    """One check of a given value: ``problem`` a sentence naming ``label``, or None; ``warning`` likewise.

    ``level`` is the dict the option stands in (its siblings), for rules that read them.
    """

    def problem(self, label, value, level):  # pylint: disable=unused-argument
        return None

    def warning(self, label, value, level):  # pylint: disable=unused-argument
        return None


class Seconds(Rule):
    """A finite number of seconds from ``minimum`` to TIMEOUT_MAX (0 may mean "no wait" to a module)."""

    def __init__(self, minimum=0):
        self.minimum = minimum

    def problem(self, label, value, level):
        if value is None:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return "%s must be a finite number of seconds, not %s." % (label, value)
        if not 0 <= value <= TIMEOUT_MAX:
            return "%s must be from 0 to %d seconds, not %s." % (label, TIMEOUT_MAX, value)
        if value < self.minimum:
            return "%s must be at least %d second%s, not %s." % (label, self.minimum, "" if self.minimum == 1 else "s",
                                                                 value)
        return None


class Amount(Rule):
    """A size, rate or limit: never negative; with ``positive``, not 0 either."""

    def __init__(self, positive=False):
        self.positive = positive

    def problem(self, label, value, level):
        if value is None:
            return None
        if value < 0:
            return "%s cannot be negative (%s)." % (label, value)
        if self.positive and value == 0:
            return "%s must be positive, not %s." % (label, value)
        return None


class Between(Rule):
    """An integer from ``low`` to ``high`` (a table number, a priority, a count)."""

    def __init__(self, low, high=None):
        self.low, self.high = low, high

    def problem(self, label, value, level):
        if value is None:
            return None
        if self.high is None:
            return None if value >= self.low else "%s must be at least %d, not %s." % (label, self.low, value)
        if not self.low <= value <= self.high:
            return "%s must be between %d and %d, not %s." % (label, self.low, self.high, value)
        return None


SECONDS = Seconds()
SECONDS_AT_LEAST_ONE = Seconds(minimum=1)
AMOUNT = Amount()
POSITIVE_AMOUNT = Amount(positive=True)

# The rules only some modules declare live in input_rules_extra.py, loaded on first use (rules.Uuid):
# every module compiles this file from the AnsiballZ zip on each run.
EXTRA_RULES = ("MAX_AGE_HOURS", "AgeHours", "AGE_HOURS", "Uuid", "NameOrUuid", "NAME_OR_UUID", "TlsSwitch")


def __getattr__(name):
    if name in EXTRA_RULES:
        from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules_extra
        return getattr(input_rules_extra, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def declared_values(params, path, where=""):
    """``(label, value, level)`` for option ``path`` (a tuple of names) in params: each element of a list
    of dicts on the way, a parent that is unset or malformed skipped."""
    if not isinstance(params, dict):
        return
    name = path[0]
    label = "%s.%s" % (where, name) if where else name
    value = params.get(name)
    if len(path) == 1:
        yield label, value, params
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from declared_values(item, path[1:], "%s[%d]" % (label, index))
    else:
        yield from declared_values(value, path[1:], label)


def check_rules(rules, params):
    """The first problem of the declared ``rules`` (spec order) in ``params``, or None; and the warnings."""
    warnings = []
    for path, rule in rules.items():
        for label, value, level in declared_values(params, tuple(path.split("."))):
            problem = rule.problem(label, value, level)
            if problem:
                return problem, warnings
            warning = rule.warning(label, value, level)
            if warning:
                warnings.append(warning)
    return None, warnings


def unknown_paths(rules, argument_spec):
    """The declared paths that name no option of the spec (a programming error, caught in every run)."""
    unknown = []
    for path in rules:
        spec = argument_spec
        for name in path.split("."):
            option = spec.get(name) if isinstance(spec, dict) else None
            if option is None:
                unknown.append(path)
                break
            spec = option.get("options")
    return unknown

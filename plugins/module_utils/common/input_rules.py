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

from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE

# A wait longer than a year is a mistake, and larger numbers overflow the C time of sockets and locks.
TIMEOUT_MAX = 366 * 24 * 3600
# An age beyond a century only ever keeps everything: a typo.
MAX_AGE_HOURS = 876000


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


class AgeHours(Rule):
    """An age in hours (the image cache managers' min_age_hours): finite, from 0 to MAX_AGE_HOURS."""

    def problem(self, label, value, level):
        if value is None:
            return None
        if not math.isfinite(value) or not 0 <= value <= MAX_AGE_HOURS:
            return "%s must be between 0 and %d (it is %s)." % (label, MAX_AGE_HOURS, value)
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


class Uuid(Rule):
    """8-4-4-4-12 hex digits (the one UUID check's pattern); ``what`` says of what (``VM``).  Empty is the
    option not given (a role passes its variable through as it is)."""

    def __init__(self, what=None):
        self.what = what

    def problem(self, label, value, level):
        if not value or (isinstance(value, str) and UUID_RE.match(value)):
            return None
        return "%s %r is not a %sUUID (expected 8-4-4-4-12 hex digits)." % (
            label, value, self.what + " " if self.what else "")


class NameOrUuid(Rule):
    """What names an object by its name label or its UUID: not blank, no blanks around it (a name label
    with them is almost always a templating slip), no control characters, at most 255 characters."""

    def problem(self, label, value, level):
        if value is None:
            return None
        if not value.strip():
            return "%s is empty; give a name or a UUID." % label
        if value != value.strip():
            return "%s %r has blanks around it; give the name exactly." % (label, value)
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            return "%s %r holds a control character." % (label, value)
        if len(value) > 255:
            return "%s is %d characters long; a name label has at most 255." % (label, len(value))
        return None


class TlsSwitch(Rule):
    """A validate_certs option: false where an https endpoint (or a cloud) is named in ``endpoints`` beside
    it is warned about.  Unset, it is ``inherits`` of its level (vhd_migrate's dest_validate_certs)."""

    def __init__(self, endpoints, inherits=None):
        self.endpoints = endpoints
        self.inherits = inherits

    def warning(self, label, value, level):
        inherited = value is None and self.inherits and level.get(self.inherits) is False
        if value is not False and not inherited:
            return None
        endpoint = None
        for key in self.endpoints:
            given = level.get(key)
            if isinstance(given, str) and given:
                endpoint = "cloud %s" % given if key.endswith("cloud") else given
                break
        if endpoint is None or endpoint.lower().startswith("http://"):
            return None     # nothing is reached over TLS through it
        if inherited:
            label = "%s (unset, so %s)" % (label, self.inherits)
        return ("%s is false: the TLS certificate of %s is not verified, so anyone on the network path can pose as "
                "it and see what is sent to it. Give its CA (ca_path) instead." % (label, endpoint))


SECONDS = Seconds()
SECONDS_AT_LEAST_ONE = Seconds(minimum=1)
AMOUNT = Amount()
POSITIVE_AMOUNT = Amount(positive=True)
AGE_HOURS = AgeHours()
NAME_OR_UUID = NameOrUuid()


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

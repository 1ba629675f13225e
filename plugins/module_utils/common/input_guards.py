# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checks of a module's input that every option needs whatever it is, and ansible-core's argument spec
leaves out: by the option's type alone, never by its name (what depends on the option's meaning is
declared beside each argument spec: input_rules.py).

NovaopsModule runs them right after the argument spec (found by the #13 bad-input corpus):
each returns a sentence naming the option, or None.
"""

from __future__ import annotations

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def option_with_nul(value, where=""):
    """The dotted name of the first option whose value (or key) holds a NUL byte, or None.

    No name, path, URL or text this collection hands on can hold one (XenAPI's XML, libvirt,
    OVS and the kernel all take C strings).
    """
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = "%s.%s" % (where, key) if where else str(key)
            if "\x00" in str(key):
                return name.replace("\x00", "\\x00")
            found = option_with_nul(item, name)
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = option_with_nul(item, "%s[%d]" % (where, index))
            if found:
                return found
    return None


def nul_problem(params):
    option = option_with_nul(params)
    if option:
        return "Option %s contains a NUL byte (\\x00), which no name, path or text can hold." % option
    return None


def secret_values(spec, params):
    """The strings given to no_log options (under any alias, in sub-options too), as found.

    ansible-core collects them only once the whole input is well-formed: one malformed
    sub-option makes it drop them all, and a failure would show the passwords in clear.
    """
    found = set()
    for name, option in spec.items():
        given = [params.get(key) for key in [name] + list(option.get("aliases") or []) if key in params]
        for value in given:
            if option.get("no_log"):
                found.update(_strings(value))
            subspec = option.get("options")
            if subspec:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        found.update(secret_values(subspec, item))
    return found


def _strings(value):
    if isinstance(value, str):
        return {value} if value else set()
    if isinstance(value, dict):
        return set().union(*[_strings(v) for v in value.values()]) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*[_strings(v) for v in value]) if value else set()
    return set()


def malformed_dict_option(spec, params):
    """A sentence for a dict option (or list of dicts) with sub-options given something else.

    ansible-core's validation crashes on those (a TypeError, not an error message).
    """
    for name, option in spec.items():
        value = params.get(name)
        if value is None or not option.get("options"):
            continue
        if option.get("type") == "dict" and not isinstance(value, (dict, str)):
            return "Option %s must be a dictionary, not %s." % (name, type(value).__name__)
        if option.get("type") == "dict" and isinstance(value, str) and "=" not in value and \
                not value.lstrip().startswith("{"):
            return "Option %s must be a dictionary (or key=value pairs), not the text %r." % (name, value[:80])
        if option.get("type") == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    return "Option %s[%d] must be a dictionary, not %s." % (name, index, type(item).__name__)
    return None


def given_values(spec, params, where=""):
    """(label, name, option spec, value) of every option given, sub-options of dicts and of
    list elements included (``disks[1].size_mb``); malformed parents are skipped."""
    if not isinstance(params, dict):
        return
    for name, option in spec.items():
        value = params.get(name)
        if value is None:
            continue
        label = "%s.%s" % (where, name) if where else name
        yield label, name, option, value
        sub = option.get("options")
        if sub:
            for index, item in enumerate(value if isinstance(value, list) else [value]):
                yield from given_values(sub, item, "%s[%d]" % (label, index) if isinstance(value, list) else label)


def int_range_problem(spec, params):
    """Integer options (sub-options and list elements too) must fit a signed 64-bit integer.

    No backend takes more (XenAPI's int64, libvirt's and OVS's C integers); Python alone would,
    and a check mode would predict a change that can never be made.
    """
    for label, _name, option, value in given_values(spec, params):
        items = [(label, value)] if option.get("type") == "int" else \
            [("%s[%d]" % (label, i), v) for i, v in enumerate(value)] \
            if option.get("type") == "list" and option.get("elements") == "int" and isinstance(value, list) else []
        for where, number in items:
            if isinstance(number, int) and not INT64_MIN <= number <= INT64_MAX:
                return "%s is out of range: %s does not fit a 64-bit integer." % (where, number)
    return None

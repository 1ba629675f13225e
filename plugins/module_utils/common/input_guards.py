# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checks of a module's input that every module needs and ansible-core's argument spec leaves out.

NovaopsModule runs them right after the argument spec (found by the #13 bad-input corpus):
each returns a sentence naming the option, or None.
"""

from __future__ import annotations

import math
import os

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# A wait longer than a year is a mistake, and larger numbers overflow the C time of sockets and locks.
TIMEOUT_MAX = 366 * 24 * 3600


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


def null_rule_problem(params, required_one_of=None, required_if=None, required_together=None):
    """The cross-option rules again, with an explicit null counting as not given.

    ansible-core checks that the options are present, so ``vm: null`` satisfied
    required_one_of and required_if and the module met a None it never expected.
    """
    def given(key):
        return params.get(key) is not None

    for group in required_one_of or []:
        if not any(given(key) for key in group):
            return "One of %s is required (null does not count)." % ", ".join(group)
    for rule in required_if or []:
        key, value, needed = rule[0], rule[1], rule[2]
        any_of = len(rule) > 3 and rule[3]
        if params.get(key) != value:
            continue
        missing = [k for k in needed if not given(k)]
        if missing and (not any_of or len(missing) == len(needed)):
            return "%s is %s, so %s %s required (null does not count)." % (
                key, value, (" or " if any_of else " and ").join(needed), "is" if len(needed) == 1 else "are")
    for group in required_together or []:
        present = [key for key in group if given(key)]
        if present and len(present) != len(group):
            return "%s must be given together (null does not count)." % ", ".join(group)
    return None


def is_file_option(name, option):
    """Options of type path that name a file the module (or ssh, or TLS) reads: *_file and *ca_path."""
    return option.get("type") == "path" and (name.endswith("_file") or name == "ca_path" or name.endswith("_ca_path"))


def file_option_problem(spec, params):
    """Files named by options (``is_file_option``, sub-options too) that exist must be plain files reached
    without links: regular, one hard link, no symbolic link anywhere in their path.

    They are read whole (an ssh key, a known_hosts list, a CA bundle): a device or a FIFO named there
    would block the read for ever, a directory fail in a way that names nothing, and a link - planted
    in a directory others can write - would make this root process read a file it was not given.
    """
    for label, name, option, value in given_values(spec, params):
        if not isinstance(value, str) or not value or not is_file_option(name, option):
            continue
        if not os.path.isabs(value):
            return "%s %s is not an absolute path." % (label, value)
        # imported here: every module runs these checks, few have a file option, and a module's
        # code is compiled again on each run (AnsiballZ imports from a zip, without .pyc files)
        from ansible_collections.novaops.compute.plugins.module_utils.common.confined import check_plain_file
        try:
            check_plain_file(value, label, missing_ok=True)
        except NovaopsError as exc:
            return exc.msg      # a missing file is the module's to report, with its own words
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


def timeout_problem(spec, params):
    """Options named timeout or *_timeout must be a finite number of seconds from 0 to TIMEOUT_MAX.

    (0 is left to the module: for a shutdown_timeout it can mean "no clean shutdown".)
    """
    for label, name, option, value in given_values(spec, params):
        if not (name == "timeout" or name.endswith("_timeout")) or option.get("type") not in ("int", "float"):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            return "%s must be a finite number of seconds, not %s." % (label, value)
        if not 0 <= value <= TIMEOUT_MAX:
            return "%s must be from 0 to %d seconds, not %s." % (label, TIMEOUT_MAX, value)
    return None


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


# Integer options that count bytes, rates or limits: a negative one means nothing.
NON_NEGATIVE_SUFFIXES = ("_mb", "_gb", "_rate", "bwlimit", "bandwidth", "burst")


def negative_problem(spec, params):
    """Integer options named as sizes, rates or limits (NON_NEGATIVE_SUFFIXES) must not be negative."""
    for label, name, option, value in given_values(spec, params):
        if option.get("type") == "int" and isinstance(value, int) and value < 0 and name.endswith(NON_NEGATIVE_SUFFIXES):
            return "%s cannot be negative (%s)." % (label, value)
    return None


# where an endpoint is named beside a validate_certs option (XenAPI url, vhd_migrate's dest_url, the
# glance dict's url or cloud, an image's url)
ENDPOINT_KEYS = ("url", "uri", "cloud")


def unverified_tls(spec, params, where=""):
    """``(option label, endpoint)`` for each validate_certs option (or <prefix>_validate_certs, sub-options
    too) that is false where an https endpoint (or a cloud) is named beside it.

    A <prefix>_validate_certs left unset takes the plain validate_certs of its level (vhd_migrate's
    dest_validate_certs), and is reported with it.
    """
    found = []
    if not isinstance(params, dict):
        return found
    for name, option in spec.items():
        if name != "validate_certs" and not name.endswith("_validate_certs"):
            continue
        prefix = name[:-len("validate_certs")]
        value = params.get(name)
        inherited = value is None and prefix and params.get("validate_certs") is False
        if value is not False and not inherited:
            continue
        endpoint = None
        for key in ENDPOINT_KEYS:
            given = params.get(prefix + key)
            if isinstance(given, str) and given:
                endpoint = "cloud %s" % given if key == "cloud" else given
                break
        if endpoint is None or endpoint.lower().startswith("http://"):
            continue        # nothing is reached over TLS through it
        label = "%s.%s" % (where, name) if where else name
        if inherited:
            label = "%s (unset, so validate_certs)" % label
        found.append((label, endpoint))
    for name, option in spec.items():
        sub = option.get("options")
        value = params.get(name)
        if not sub or value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            label = "%s[%d]" % (name, index) if isinstance(value, list) else name
            found.extend(unverified_tls(sub, item, "%s.%s" % (where, label) if where else label))
    return found

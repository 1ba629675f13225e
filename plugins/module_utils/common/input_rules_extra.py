# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules of input_rules.py that only some modules declare: UUIDs and names of objects, TLS switches
and cache ages.

Apart so that a module declaring none of them does not compile them on every run; modules still name
them through input_rules (``rules.Uuid("VM")``), whose ``__getattr__`` loads this file.
"""

from __future__ import annotations

import math

from ansible_collections.novaops.compute.plugins.module_utils.common.input_rules import Rule
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import UUID_RE

# An age beyond a century only ever keeps everything: a typo.
MAX_AGE_HOURS = 876000


class AgeHours(Rule):
    """An age in hours (the image cache managers' min_age_hours): finite, from 0 to MAX_AGE_HOURS."""

    def problem(self, label, value, level):
        if value is None:
            return None
        if not math.isfinite(value) or not 0 <= value <= MAX_AGE_HOURS:
            return "%s must be between 0 and %d (it is %s)." % (label, MAX_AGE_HOURS, value)
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


AGE_HOURS = AgeHours()
NAME_OR_UUID = NameOrUuid()

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one exception every foreseeable fault becomes.

SDK errors (XenAPI.Failure, libvirt.libvirtError, a failed command) are turned into a
NovaopsError close to where they happen, by the module_utils that know the SDK; modules
only ever catch this class, so their failure shape is the same whatever the backend.
"""

from __future__ import annotations


class NovaopsError(Exception):
    """A fault the module foresaw: a sentence an operator can act on, plus result facts.

    facts are merged into the failed result, e.g. xenapi_error={code, params}.
    """

    def __init__(self, msg, **facts):
        super().__init__(msg)
        self.msg = msg
        self.facts = facts

    def __str__(self):
        return self.msg


class WaitTimeout(NovaopsError):
    """A wait ran out of its timeout; the message says what was awaited and for how long."""

    def __init__(self, what, timeout, **facts):
        super().__init__("Timed out after %ss waiting for %s." % (_fmt(timeout), what), timeout=timeout, **facts)


def instance_name_hint(role, option):
    """Where a name that matches no instance came from, for the message that says so: the operator set the
    inventory variable, not the role's option or the module's."""
    return ("Check the instance's name (for the %s role %s - the inventory variable instance_name, else the inventory "
            "host name)." % (role, option))


def _fmt(seconds):
    return ("%.1f" % seconds).rstrip("0").rstrip(".")

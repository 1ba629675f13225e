# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The inventory variables every role reads, checked with messages that name them.

The operator sets ``compute_driver`` and ``instance_flavor``; the roles see them as
``<role>_driver`` and ``boot_flavor``. A role's own argument validation would name the
role's variable and print its whole argument spec, so these two are left loose there and
checked here, before any module runs. Pure logic, no I/O.
"""

from __future__ import annotations

DRIVERS = ("libvirt", "xenapi")
FLAVOR_KEYS = ("vcpus", "memory_mb")
FLAVOR_SIZES = ("root_gb", "root_mb", "ephemeral_gb", "swap_mb")


def _shown(value):
    return repr(value) if isinstance(value, str) else str(value)


def problems(role, driver, flavor=None):
    """Sentences for what is wrong with ``driver`` (``compute_driver``) and ``flavor`` (``instance_flavor``,
    when the role takes one); empty when both are usable."""
    out = []
    where = "the %s role's %s_driver" % (role, role)
    if driver in (None, ""):
        out.append("compute_driver is not set (nor %s); set it to %s." % (where, " or ".join(DRIVERS)))
    elif driver not in DRIVERS:
        out.append("compute_driver is %s (%s); it must be %s." % (_shown(driver), where, " or ".join(DRIVERS)))
    if flavor is None:
        return out
    where = "the %s role's %s_flavor" % (role, role)
    if not isinstance(flavor, dict) or not flavor:
        out.append("instance_flavor is not set (nor %s); give it %s." % (where, " and ".join(FLAVOR_KEYS)))
        return out
    missing = [key for key in FLAVOR_KEYS if flavor.get(key) in (None, "")]
    if missing:
        out.append("instance_flavor has no %s (%s); a flavor needs %s." % (
            " and no ".join(missing), where, " and ".join(FLAVOR_KEYS)))
    for key in FLAVOR_KEYS + FLAVOR_SIZES:
        value = flavor.get(key)
        if value in (None, "") or key in missing:
            continue
        least = 1 if key in FLAVOR_KEYS else 0
        if isinstance(value, bool) or not str(value).strip().isdigit() or int(str(value)) < least:
            out.append("instance_flavor's %s is %s (%s); it must be a whole number of at least %d." % (
                key, _shown(value), where, least))
    return out

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The inventory variables every role reads, checked with messages that name them.

The operator sets ``compute_driver`` and ``instance_flavor``; the roles see them as
``<role>_driver`` and ``boot_flavor``. A role's own argument validation would name the
role's variable and print its whole argument spec, so these two are left loose there and
checked here, before any module runs. The evacuate playbook's cold fallback settings
(``evacuate_cold``) are checked here too, per driver, naming the ones missing. Pure logic, no I/O.
"""

from __future__ import annotations

DRIVERS = ("libvirt", "xenapi")
FLAVOR_KEYS = ("vcpus", "memory_mb")
FLAVOR_SIZES = ("root_gb", "root_mb", "ephemeral_gb", "swap_mb")
# why a cold migration on each driver needs what it needs (the start of the refusal)
COLD_NEEDS = dict(
    libvirt="a libvirt instance goes cold to a named destination, over ssh",
    xenapi="a XenAPI VM goes cold to another pool only (xapi starts a VM of this pool on the host it picks)")


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


def _setting(settings, path):
    """The value at ``path`` (keys) in nested dicts, None when a level is missing or not a dict."""
    for key in path:
        if not isinstance(settings, dict):
            return None
        settings = settings.get(key)
    return settings


def cold_migration_problems(driver, cold, dest="", template=""):
    """A sentence naming what the evacuate playbook's cold fallback on ``driver`` lacks - ``cold`` is its
    ``evacuate_cold``, ``dest`` its ``evacuate_libvirt_dest``, ``template`` the inventory's ``instance_template``
    (the XenAPI template's default) - as a list; empty when it has what it needs."""
    if driver == "libvirt":
        wanted = [("evacuate_libvirt_dest (the destination, named)", dest),
                  ("evacuate_cold.ssh.host (how the source reaches it over ssh)", _setting(cold, ("ssh", "host")))]
    elif driver == "xenapi":
        given = _setting(cold, ("xenapi", "template"))
        wanted = [("evacuate_cold.xenapi.pool.url (the destination pool)", _setting(cold, ("xenapi", "pool", "url"))),
                  ("evacuate_cold.xenapi.ssh.host (how the source host reaches it over ssh)",
                   _setting(cold, ("xenapi", "ssh", "host"))),
                  # unset (not set empty), the inventory's template, as the resize role is given it
                  ("evacuate_cold.xenapi.template (the new VM's template)", template if given is None else given)]
    else:
        return []       # problems() names a driver that is neither
    missing = [name for name, value in wanted if value in ("", None)]
    if not missing:
        return []
    return ["Not moved cold: %s, and %s %s not set." % (
        COLD_NEEDS[driver], ", ".join(missing), "is" if len(missing) == 1 else "are")]

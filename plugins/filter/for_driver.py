# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter a playbook picks an instance's per-driver setting with (evacuate.yml: the destination)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

DRIVERS = ("libvirt", "xenapi")


def for_driver(driver, libvirt=None, xenapi=None):
    """The setting given for ``driver`` (libvirt or xenapi); an unknown driver is refused, naming it."""
    if driver not in DRIVERS:
        raise AnsibleFilterError("for_driver: the driver is %r, not one of %s (novaops_driver, as the inventory "
                                 "plugins set it)" % (driver, ", ".join(DRIVERS)))
    return libvirt if driver == "libvirt" else xenapi


class FilterModule:
    def filters(self):
        return {"for_driver": for_driver}

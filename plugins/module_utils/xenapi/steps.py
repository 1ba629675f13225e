# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The XenAPI single-module steps a longer operation (xen_resize, xen_rescue) is made of.

Each step is what one task of xen_vm, xen_vdi_resize or vhd_migrate does, run in this process on an
open session (manager_step.py): idempotent, locked and rolled back on its own as that module is.
The operation's lock options and timeout go to every step.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.manager_step import run_step, would_change
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vdi_resizer import VDIResize
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vdi_resizer import argument_spec as vdi_resize_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_migration import Migration
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_migration import argument_spec as migration_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_manager import VM
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vm_manager import argument_spec as vm_spec

COMMON = ("clear_stale_lock", "stale_lock_age", "timeout")


def refuse_empty_suffixes(params, options):
    """The operation names its other VMs <name><suffix>: an empty suffix would give two VMs one name."""
    for option in options:
        if not params[option]:
            raise NovaopsError("%s must not be empty: the instance and the VM it names would have one name."
                               % option)


class XenSteps:
    """Steps on the source pool (src) and the destination pool (dst, the source's session for one pool).

    Each takes its module's options as a dict (they hold a ``name`` of their own) and returns its result;
    ``lock_report`` gathers what the steps did to operation locks not their own.
    """

    def __init__(self, module, src, dst=None):
        self.module = module
        self.src = src
        self.dst = dst or src
        self.common = dict((name, module.params[name]) for name in COMMON)
        self.lock_report = {}

    def _run(self, manager_class, spec, params, *conns):
        result = run_step(self.module, manager_class, spec, dict(self.common, **params), *conns)
        for key, marks in (result.get("operation_lock") or {}).items():
            self.lock_report.setdefault(key, []).extend(marks if isinstance(marks, list) else [marks])
        return result

    def with_lock_report(self, out):
        """The operation's result ``out``, with what the steps did to locks not their own, if anything."""
        if self.lock_report:
            out["operation_lock"] = self.lock_report
        return out

    def vm(self, conn, params):
        """xen_vm with these options on conn's pool."""
        return self._run(VM, vm_spec(), params, conn)

    def vm_would_change(self, conn, params):
        return would_change(self.module, VM, vm_spec(), dict(self.common, **params), conn)

    def vdi_resize(self, conn, params):
        """xen_vdi_resize with these options on conn's pool."""
        return self._run(VDIResize, vdi_resize_spec(), params, conn)

    def vdi_resize_would_change(self, conn, params):
        return would_change(self.module, VDIResize, vdi_resize_spec(), dict(self.common, **params), conn)

    def migrate(self, params):
        """vhd_migrate from the source pool to the destination pool with these options."""
        return self._run(Migration, migration_spec(), params, self.src, self.dst)

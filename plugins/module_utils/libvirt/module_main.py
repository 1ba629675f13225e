# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The main() of a libvirt module whose work is one class taking (module, connection).

Its options checked, libvirt's own error printing silenced (the failure says it once), a clear failure
for every fault it foresees (NovaopsModule.failing_clearly), the connection closed whatever happens,
and the work's result as the module's.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import (
    LibvirtConnection, quiet_libvirt_errors)


def run_on_host(spec, work_class, step="converge"):
    """``work_class(module, conn).<step>()`` on the libvirt host of the connection options."""
    module = spec.create_ansible_module(NovaopsModule)
    quiet_libvirt_errors()
    with module.failing_clearly():
        with LibvirtConnection.from_params(module.params) as conn:
            result = getattr(work_class(module, conn), step)()
        module.exit_json(**result)

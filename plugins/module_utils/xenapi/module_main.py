# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The main() of a XenAPI module whose work is one Manager (common/plan.py).

Its options checked, a clear failure for every fault it foresees (NovaopsModule.failing_clearly),
the session(s) logged out whatever happens, and the Manager's result as the module's.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.vhd_migration import converge_between_pools


def run_on_pool(spec, manager_class):
    """``manager_class(module, conn).converge()`` on the pool of the connection options."""
    module = spec.create_ansible_module(NovaopsModule)
    with module.failing_clearly():
        with XenAPIConnection.from_params(module.params) as conn:
            module.exit_json(**manager_class(module, conn).converge())


def run_between_pools(spec, manager_class):
    """``manager_class(module, src, dst).converge()`` from the source pool to the destination's."""
    module = spec.create_ansible_module(NovaopsModule)
    with module.failing_clearly():
        module.exit_json(**converge_between_pools(module, manager_class))

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The main() of an Open vSwitch module whose work is one class taking (module, OVS).

Its options checked, a clear failure for every fault it foresees (NovaopsModule.failing_clearly),
the OVS tools run with the module's ``timeout``, and the work's result as the module's.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import OVS


def run_on_ovs(spec, work_class, step="converge"):
    """``work_class(module, ovs).<step>()`` on the managed node's Open vSwitch."""
    module = spec.create_ansible_module(NovaopsModule)
    with module.failing_clearly():
        ovs = OVS.from_module(module, timeout=module.params["timeout"])
        module.exit_json(**getattr(work_class(module, ovs), step)())

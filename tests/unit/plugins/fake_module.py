# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a module's work class (common/plan.py's Manager and kin) reads of its AnsibleModule, without Ansible."""

from __future__ import annotations

import copy


class FakeModule:
    """params as AnsibleModule would give them for ``spec`` (every option's default, then the test's own),
    and check and diff mode."""

    def __init__(self, spec, params=None, check_mode=False, diff=False):
        self.params = {name: copy.deepcopy(option.get("default")) for name, option in spec.argument_spec.items()}
        self.params.update(params or {})
        self.check_mode = check_mode
        self._diff = diff

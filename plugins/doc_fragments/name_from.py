# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The name_from option of the operations a role runs on an instance it was given by name (xen_resize, xen_rescue).
    DOCUMENTATION = r'''
options:
  name_from:
    description:
      - Where O(name) came from, said in the failure when no VM has that name (a role names its variable and where
        that comes from). Without it the failure says to check O(name).
    type: str
'''

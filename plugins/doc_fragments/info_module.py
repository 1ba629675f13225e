# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The attributes of the modules that only read (the *_info modules).
    DOCUMENTATION = r'''
attributes:
  check_mode:
    support: full
    description: Reads only; it runs in check mode as well.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
'''

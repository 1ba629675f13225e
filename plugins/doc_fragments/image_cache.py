# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # what check mode does in the image cache managers: libvirt_image_cache, xen_image_cache (each says its diff)
    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Lists what would be removed, removes nothing.
    support: full
'''

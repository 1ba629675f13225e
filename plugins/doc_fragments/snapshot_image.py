# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The options of module_utils/glance/marked_image.py image_argument_spec(), for the snapshot modules.
    DOCUMENTATION = r'''
options:
  properties:
    description: Extra image properties (strings).
    type: dict
    default: {}
  visibility:
    description: Image visibility.
    type: str
    choices: [ private, shared, community, public ]
    default: private
'''

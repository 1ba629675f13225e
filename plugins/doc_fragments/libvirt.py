# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  uri:
    description:
      - libvirt connection URI, for example C(qemu:///system) or C(qemu+ssh://root@hv1/system).
      - If not set, the environment variable E(LIBVIRT_DEFAULT_URI) is used, then C(qemu:///system).
    type: str
    default: qemu:///system
requirements:
  - libvirt-python
notes:
  - The connection options can be set once for all modules of the collection with
    C(module_defaults) and the action group C(group/novaops.compute.libvirt).
'''

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one UUID check: an instance, VM, VDI or port UUID as 8-4-4-4-12 hex digits, in lower case."""

from __future__ import annotations

import re

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def check_uuid(value, what=None):
    """``value`` in lower case (xapi and libvirt answer in lower case), or a NovaopsError naming ``what``."""
    text = value if isinstance(value, str) else ""
    if not UUID_RE.match(text):
        raise NovaopsError("%r is not a %sUUID (expected 8-4-4-4-12 hex digits)." % (
            value, what + " " if what else ""))
    return text.lower()

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A VIF's MAC address: six hex pairs, and unicast (a multicast or broadcast MAC breaks the guest's network)."""

from __future__ import annotations

import re

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")


def unicast_mac(text, what="MAC address"):
    """``text`` as lower-case 'aa:bb:cc:dd:ee:ff'; a NovaopsError naming ``what`` when it is not a unicast MAC."""
    value = str(text)
    if not MAC_RE.match(value):
        raise NovaopsError("%s %r is not a MAC address (expected six hex pairs like 02:00:00:aa:bb:cc)."
                           % (what, value[:40]))
    if int(value[:2], 16) & 1 or value.replace(":", "") == "0" * 12:
        raise NovaopsError("%s %s is not a unicast address (it is multicast, broadcast or null); a VIF needs a "
                           "unicast MAC, its first octet even." % (what, value))
    return value.lower()

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``tc class show`` parsed: the rate and ceil the kernel really enforces for each class (OVS.tc_classes).

  parse_tc_classes(text), parse_tc_rate(text)
"""

from __future__ import annotations

import re

_RATE_UNITS = {
    "bit": 1, "kbit": 1000, "mbit": 1000 ** 2, "gbit": 1000 ** 3, "tbit": 1000 ** 4,
    "kibit": 1024, "mibit": 1024 ** 2, "gibit": 1024 ** 3, "tibit": 1024 ** 4,
    "bps": 8, "kbps": 8000, "mbps": 8 * 1000 ** 2, "gbps": 8 * 1000 ** 3, "tbps": 8 * 1000 ** 4,
}


def parse_tc_rate(text):
    """'614400Kbit' -> 614400000 (bits per second); None when not a rate."""
    match = re.match(r"^([0-9.]+)([A-Za-z]*)$", text or "")
    if not match:
        return None
    unit = match.group(2).lower() or "bit"
    if unit not in _RATE_UNITS:
        return None
    return int(round(float(match.group(1)) * _RATE_UNITS[unit]))


def parse_tc_classes(text):
    """tc class show output -> [{classid, kind, parent, root, prio, rate, ceil, rate_text, ...}]."""
    classes = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "class":
            continue
        entry = dict(kind=words[1], classid=words[2], parent=None, root=False, prio=None,
                     rate=None, ceil=None, rate_text=None, ceil_text=None, burst=None, cburst=None)
        i = 3
        while i < len(words):
            word = words[i]
            nxt = words[i + 1] if i + 1 < len(words) else None
            if word == "root":
                entry["root"] = True
                i += 1
                continue
            if word in ("parent", "prio", "rate", "ceil", "burst", "cburst", "leaf", "quantum", "level") and nxt is not None:
                if word in ("rate", "ceil"):
                    entry[word + "_text"] = nxt
                    entry[word] = parse_tc_rate(nxt)
                elif word == "prio":
                    entry[word] = int(nxt) if nxt.isdigit() else nxt
                else:
                    entry[word] = nxt
                i += 2
                continue
            i += 1
        classes.append(entry)
    return classes

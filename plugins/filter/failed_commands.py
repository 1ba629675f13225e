# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter a role reads a looped command task with (failed_when: false): the items whose command exited
non-zero (xapi_plugins: the commands not on the host's PATH, as ``which`` found them)."""

from __future__ import annotations

from collections.abc import Mapping


def failed_commands(registered):
    """The items, in loop order, of the looped task ``registered`` whose command ran and exited non-zero;
    items skipped, and a task skipped whole (no results), count as none."""
    results = registered.get("results") if isinstance(registered, Mapping) else None
    if not isinstance(results, list):
        return []
    return [result.get("item") for result in results
            if isinstance(result, Mapping) and not result.get("skipped") and result.get("rc", 0) != 0]


class FilterModule:
    def filters(self):
        return {"failed_commands": failed_commands}

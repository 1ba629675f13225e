# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Before/after bookkeeping for diff mode, after community.docker's DifferenceTracker."""

from __future__ import annotations


class DifferenceTracker:
    """Records each setting whose current value differs from the wanted one."""

    def __init__(self):
        self._items = []

    def add(self, name, wanted, current):
        self._items.append((name, wanted, current))

    def compare(self, name, wanted, current):
        """Track name when wanted is set (not None) and differs; returns whether it did."""
        if wanted is None or wanted == current:
            return False
        self.add(name, wanted, current)
        return True

    def has_difference_for(self, name):
        return any(item[0] == name for item in self._items)

    def merge(self, other):
        self._items.extend(other._items)

    @property
    def empty(self):
        return not self._items

    @property
    def names(self):
        return [item[0] for item in self._items]

    def get_before_after(self):
        before = dict((name, current) for name, _wanted, current in self._items)
        after = dict((name, wanted) for name, wanted, _current in self._items)
        return before, after

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The plan of an image-cache clean-up, the same on both drivers (libvirt's _base, XenAPI's cached VDIs)."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.plan import Manager


class CacheCleanup(Manager):
    """A Manager whose read() lists the cache under ``LISTED`` (the entries' ``KEY``s) and finds which entries
    no one uses; the plan removes each of those (action ``ACTION``) and predicts the listing without them."""

    LISTED = None
    KEY = None
    ACTION = None

    def __init__(self, module):
        super().__init__(module)
        self.removed = []       # the entries this run removes (or would, in check mode)

    def removable(self):
        """The entries the last read found unused, in the order to remove them."""
        raise NotImplementedError

    def remove(self, entry):
        raise NotImplementedError

    def plan(self, before, plan):
        self.removed = list(self.removable())
        for entry in self.removed:
            plan.add(self.ACTION, self.remove, entry, detail=entry[self.KEY])
        gone = set(entry[self.KEY] for entry in self.removed)
        return {self.LISTED: [name for name in before[self.LISTED] if name not in gone]}

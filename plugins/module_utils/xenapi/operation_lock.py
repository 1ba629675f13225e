# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The operation lock of a XenServer VM (or of a VDI no VM uses): its ``other_config`` mark.

xapi's ``add_to_other_config`` refuses a key that is there already (MAP_DUPLICATE_KEY), so the
mark is taken in one atomic call: of two runs that both saw the VM free, the second is refused.
The mark is removed with ``remove_from_other_config`` only while it is still this run's own.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import (
    XENAPI_KEY, InstanceBusy, OperationLock, from_other_config, judged, to_json)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIError


class XenOperationLock(OperationLock):
    """The mark in ``<cls>.other_config`` of ``ref`` (a VM, or a VDI); ref may come later (attach).

    cleaners: what the caller knows to clear once the stale mark of a killed run is cleared, by the
    operation that left it: ``{operation: clean(conn, cls, ref) -> [what was done]}``.
    """

    def __init__(self, conn, cls, ref, label, operation, params, takeover=False, cleaners=None):
        super().__init__(label, operation, params, takeover)
        self.conn = conn
        self.cls = cls
        self.ref = ref
        self.cleaners = dict(cleaners or {})
        self._written = None

    def _other_config(self):
        return self.conn.call("%s.get_other_config" % self.cls, self.ref) or {}

    def marks(self):
        if self.ref is None:
            return []
        task = from_other_config(self._other_config())
        return [(task, None)] if task else []

    def take(self, mark, stale):
        if self.ref is None:
            return          # a VM this run creates: marked by attach() as soon as it exists
        if stale:
            self.conn.call("%s.remove_from_other_config" % self.cls, self.ref, XENAPI_KEY)
        self._add(mark)

    def _add(self, mark):
        value = to_json(mark)
        try:
            self.conn.call("%s.add_to_other_config" % self.cls, self.ref, XENAPI_KEY, value)
        except XenAPIError as exc:
            if exc.code != "MAP_DUPLICATE_KEY":
                raise
            task = from_other_config(self._other_config()) or dict(operation="unknown", source="other_config")
            raise InstanceBusy(self.label, judged(task, None, self.stale_after))
        self._written = value

    def attach(self, ref, label=None):
        """Mark an object this run has just made (it did not exist when the run was admitted)."""
        self.ref = ref
        self.label = label or self.label
        if self.holding and self._written is None:
            self._add(self.mark)

    def release(self):
        if self.ref is None or self._written is None:
            return
        written, self._written = self._written, None
        try:
            if self._other_config().get(XENAPI_KEY) == written:
                self.conn.call("%s.remove_from_other_config" % self.cls, self.ref, XENAPI_KEY)
        except XenAPIError as exc:
            if exc.code != "HANDLE_INVALID":      # destroyed by this run, with its mark
                raise

    def after_stale_cleared(self, stale):
        done = []
        for task in stale:
            clean = self.cleaners.get(str(task.get("operation")).split(" ", 1)[0])
            if clean is not None:
                done.extend(clean(self.conn, self.cls, self.ref))
        if done:
            self.report["cleaned_up"] = done

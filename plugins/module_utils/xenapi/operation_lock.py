# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The operation lock of a XenServer VM (or of a VDI no VM uses): its ``other_config`` mark.

xapi's ``add_to_other_config`` refuses a key that is there already (MAP_DUPLICATE_KEY), so the
mark is taken in one atomic call: of two runs that both saw the VM free, the second is refused.
The mark is removed only while it is still this run's own.

What the lock costs a changing run is two short calls: the mark's add, and a read of
``other_config`` under it; the release rides on a write the run makes anyway (ride()) or is one
``set_other_config``.  The marks are checked in the ``other_config`` the module has just read
(``other_config=`` for the admission, seen() for the release).

The read under the mark must notice another run that took the mark, changed the VM and released
it between this run's first read and its mark: the first read's plan would be stale.  Each release
of a VM's mark therefore counts itself in ``other_config`` (RELEASES, in the write that drops the
mark: no moment shows the mark gone and the count not moved), so the read under the mark only
compares that count with the first read's (unchanged_since_admission()), and the module reads and
plans again only when it moved.  That read is ``VM.get_other_config``, not the whole record: in
xapisim get_record takes 1.1 ms, get_other_config 0.41, add_to_other_config 0.42, against about
6 ms for a whole start; re-reading the record (and planning again) cost 1.30-1.39x the unlocked
run's time.  Other ways, measured or counted: taking the mark before the first read needs the
VM's ref first (``get_by_name_label``) and makes every no-change run pay an add and a remove;
the count in the mark's own key name (an add that fails once another run used it) would save the
read, but then the key ``novaops_task_state`` could no longer hold the mark where every reader
(the inventory, older runs, operators) looks.  What the count does not see is a change made
between the reads by a writer that takes no mark (``xe``, an older version of this collection):
those can change the VM under the mark as well, the lock never kept them out.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import (
    XENAPI_KEY, XENAPI_RELEASES_KEY, InstanceBusy, OperationLock, from_other_config, judged, to_json)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIError


UNREAD = object()


def next_count(count):
    """The release count after one more release (a value that is no count starts again at 1)."""
    return str(int(count) + 1) if str(count or "").isdigit() else "1"


class XenOperationLock(OperationLock):
    """The mark in ``<cls>.other_config`` of ``ref`` (a VM, or a VDI); ref may come later (attach).

    cleaners: what the caller knows to clear once the stale mark of a killed run is cleared, by the
    operation that left it: ``{operation: clean(conn, cls, ref) -> [what was done]}``.
    """

    def __init__(self, conn, cls, ref, label, operation, params, takeover=False, cleaners=None, other_config=None):
        super().__init__(label, operation, params, takeover)
        self.conn = conn
        self.cls = cls
        self.ref = ref
        self.cleaners = dict(cleaners or {})
        self._written = None
        self._seen = None if other_config is None else dict(other_config)
        # the release count in the read that admits the run (None: absent; UNREAD: no read given)
        self._admitted_releases = UNREAD if other_config is None else other_config.get(XENAPI_RELEASES_KEY)
        self._cleared = False
        self._riding = None
        self.final_other_config = None      # other_config as the release left it (when it knows)

    def _other_config(self):
        return self.conn.call("%s.get_other_config" % self.cls, self.ref) or {}

    def seen(self, view):
        """The object's other_config as the module has just read it (view): the next check looks there."""
        self._seen = None if view is None else dict(view)

    def _checked_other_config(self):
        seen, self._seen = self._seen, None
        return seen if seen is not None else self._other_config()

    def marks(self):
        if self.ref is None:
            return []
        task = from_other_config(self._checked_other_config())
        return [(task, None)] if task else []

    def take(self, mark, stale):
        self._seen = None
        if self.ref is None:
            return          # a VM this run creates: marked by attach() as soon as it exists
        if stale:
            self._cleared = True        # a killed run's leftovers may be cleaned up: read everything again
            self.conn.call("%s.remove_from_other_config" % self.cls, self.ref, XENAPI_KEY)
        self._add(mark)

    def unchanged_since_admission(self):
        if self._admitted_releases is UNREAD or self._cleared or self._written is None or self.cls != "VM":
            return False
        now = self._other_config()          # the read under the mark (see the module's docstring)
        return now.get(XENAPI_KEY) == self._written and now.get(XENAPI_RELEASES_KEY) == self._admitted_releases

    def ride(self, ref, keys):
        """Write these other_config keys with the release instead of now; False when the lock cannot
        (it holds no mark on ref), and the caller writes them itself."""
        if ref != self.ref or self._written is None:
            return False
        self._riding = dict(self._riding or {}, **dict((k, str(v)) for k, v in keys.items()))
        return True

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
        riding, self._riding = self._riding, None
        try:
            current = self._checked_other_config()
            final = dict(current, **(riding or {}))
            own = final.get(XENAPI_KEY) == written
            if own:
                del final[XENAPI_KEY]       # still this run's own: dropped (another's is left alone)
                if self.cls == "VM":        # counted in the same write (see the module's docstring)
                    final[XENAPI_RELEASES_KEY] = next_count(current.get(XENAPI_RELEASES_KEY))
            if riding or (own and self.cls == "VM"):
                self.conn.call("%s.set_other_config" % self.cls, self.ref, final)
            elif own:
                self.conn.call("%s.remove_from_other_config" % self.cls, self.ref, XENAPI_KEY)
            self.final_other_config = final
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

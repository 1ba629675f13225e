# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter evacuate.yml records a failed live migration with: a migration refused because an operation
lock holds the instance (taken since the inventory was read) is skipped, any other failure failed; and the
failure of the cold migration tried after it (the live failure's record, both messages)."""

from __future__ import annotations

from collections.abc import Mapping


def migration_failure(failed, after_live=None, **record):
    """dict(status, task, msg, **record) of a failed task's result (ansible_failed_result): status V(skipped)
    with the lock's mark as task when the module refused for a busy lock (operation_lock.busy), else
    V(failed); ``record`` (how, source, dest, duration) is kept with it.  Given ``after_live``, the record
    of the live migration that failed first, the failed task was its cold fallback: that record stays as it
    is, but how (V(live, then cold)) and msg (the live failure's, then the cold one's)."""
    failed = failed if isinstance(failed, Mapping) else {}
    msg = str(failed.get("msg", "failed"))
    if isinstance(after_live, Mapping):
        return dict(after_live, how="live, then cold",
                    msg="live migration: %s Cold migration: %s" % (after_live.get("msg"), msg))
    lock = failed.get("operation_lock")
    busy = isinstance(lock, Mapping) and "busy" in lock
    return dict(dict(status="skipped" if busy else "failed", task=lock["busy"] if busy else None, msg=msg),
                **record)


class FilterModule:
    def filters(self):
        return {"migration_failure": migration_failure}

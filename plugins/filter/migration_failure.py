# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter evacuate.yml records a failed live migration with: a migration refused because an operation
lock holds the instance (taken since the inventory was read) is skipped, any other failure failed."""

from __future__ import annotations

from collections.abc import Mapping


def migration_failure(failed):
    """dict(status, task, msg) of a failed task's result (ansible_failed_result): status V(skipped) with the
    lock's mark as task when the module refused for a busy lock (operation_lock.busy), else V(failed)."""
    failed = failed if isinstance(failed, Mapping) else {}
    lock = failed.get("operation_lock")
    busy = isinstance(lock, Mapping) and "busy" in lock
    return dict(status="skipped" if busy else "failed", task=lock["busy"] if busy else None,
                msg=str(failed.get("msg", "failed")))


class FilterModule:
    def filters(self):
        return {"migration_failure": migration_failure}

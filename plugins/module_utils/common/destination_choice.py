# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Choosing a live migration's destination among candidates, as Nova's scheduler would weigh them.

Every candidate is pre-checked by the driver (a callable that returns the candidate's free memory in
bytes, or raises NovaopsError with the refusal); of those that pass, the one with the most free
memory wins (Nova's RAMWeigher with its default multiplier 1.0: spread the instances), the earlier
candidate on a tie.  When none passes, the refusal names each candidate with its own reason.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

MiB = 1024 * 1024


def weigh(candidates, check):
    """[{dest, passed, memory_free | reason}] of the candidates, each checked by ``check(candidate)``."""
    weighed = []
    for dest in candidates:
        try:
            free = int(check(dest))
        except NovaopsError as exc:
            weighed.append(dict(dest=dest, passed=False, reason=exc.msg))
            continue
        weighed.append(dict(dest=dest, passed=True, memory_free=free))
    return weighed


def choose(weighed, what="the instance"):
    """The candidate entry that wins (most memory free, the first on a tie); a refusal naming every
    candidate and its reason when none passed."""
    passed = [w for w in weighed if w["passed"]]
    if not weighed:
        raise NovaopsError("No destination to choose from for %s: there is no candidate (name the destination, "
                           "or give candidates)." % what, candidates=[])
    if not passed:
        raise NovaopsError("No destination passes the pre-checks for %s: %s." % (what, "; ".join(
            "%s - %s" % (w["dest"], w["reason"].rstrip(".")) for w in weighed)), candidates=weighed)
    best = passed[0]
    for entry in passed[1:]:
        if entry["memory_free"] > best["memory_free"]:
            best = entry
    return best


def chosen_because(best, weighed):
    """A sentence for the result: why this one."""
    others = len([w for w in weighed if w["passed"]]) - 1
    return "%s: %d MiB of memory free, the most of %d candidate(s) that passed the pre-checks (%d refused)" % (
        best["dest"], best["memory_free"] // MiB, others + 1, len(weighed) - others - 1)

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common import destination_choice as choice
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

MiB = 1024 * 1024
FREE = dict(hv2=2048 * MiB, hv3=4096 * MiB, hv4=4096 * MiB)


def check(dest):
    if dest not in FREE:
        raise NovaopsError("does not answer: connection refused.")
    return FREE[dest]


def test_the_most_free_memory_wins_the_earlier_on_a_tie():
    weighed = choice.weigh(["hv9", "hv2", "hv4", "hv3"], check)
    best = choice.choose(weighed)
    assert best == dict(dest="hv4", passed=True, memory_free=4096 * MiB)
    assert weighed[0] == dict(dest="hv9", passed=False, reason="does not answer: connection refused.")
    assert choice.chosen_because(best, weighed) == (
        "hv4: 4096 MiB of memory free, the most of 3 candidate(s) that passed the pre-checks (1 refused)")


def test_none_passing_lists_each_candidate_with_its_reason():
    weighed = choice.weigh(["hv8", "hv9"], check)
    with pytest.raises(NovaopsError) as caught:
        choice.choose(weighed, "domain web1")
    assert caught.value.msg == ("No destination passes the pre-checks for domain web1: hv8 - does not answer: "
                                "connection refused; hv9 - does not answer: connection refused.")
    assert [c["dest"] for c in caught.value.facts["candidates"]] == ["hv8", "hv9"]


def test_no_candidate_at_all_says_so():
    with pytest.raises(NovaopsError, match="there is no candidate"):
        choice.choose([])

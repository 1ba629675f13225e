# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The commands a looped ``which`` did not find (xapi_plugins; it was a rejectattr/selectattr chain in Jinja)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.filter.failed_commands import failed_commands


def which(item, rc):
    return dict(item=item, rc=rc, changed=False, failed=False, stdout="/usr/bin/%s" % item if rc == 0 else "")


def test_the_commands_that_exited_non_zero_in_loop_order():
    found = dict(results=[which("vhd-util", 1), which("rsync", 0), which("ssh", 127), which("tar", 0)])
    assert failed_commands(found) == ["vhd-util", "ssh"]


def test_all_found_is_none_missing():
    assert failed_commands(dict(results=[which("rsync", 0), which("ssh", 0)])) == []


def test_skipped_items_and_a_task_skipped_whole_count_as_none():
    skipped_item = dict(item="vhd-util", skipped=True, skip_reason="Conditional result was False", changed=False)
    assert failed_commands(dict(results=[skipped_item, which("ssh", 1)])) == ["ssh"]
    assert failed_commands(dict(skipped=True, changed=False, skip_reason="Conditional result was False")) == []


@pytest.mark.parametrize("registered", [None, "", [], dict(results=None), dict(results=["not-a-result"])])
def test_what_is_no_registered_loop_finds_none(registered):
    assert failed_commands(registered) == []

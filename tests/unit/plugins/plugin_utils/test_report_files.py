# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""When a run report says the run finished: as given, else at the end of the run the time it is written."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.plugin_utils.report_files import finished_at


def test_the_end_of_the_run_is_stamped_in_utc_unless_given():
    assert finished_at(None, True, now=86400 + 3661) == "1970-01-02T01:01:01Z"
    assert finished_at("2026-12-07T10:00:00Z", True) == "2026-12-07T10:00:00Z"


def test_a_run_in_progress_has_not_finished():
    assert finished_at(None, False) is None
    assert finished_at("", False) is None

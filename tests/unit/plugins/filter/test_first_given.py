# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Of options a module takes only one of, the first set (it was ``omit if a else (b or omit)`` in Jinja):
live_migrate's host before leave_host, evacuate's uuid before name."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.novaops.compute.plugins.filter.first_given import first_given


@pytest.mark.parametrize("dest,leave,passed", [
    ("xenhost-02", "xenhost-01", dict(host="xenhost-02")),      # a destination named wins
    ("xenhost-02", "", dict(host="xenhost-02")),
    ("", "xenhost-01", dict(leave_host="xenhost-01")),          # else the module chooses, off that host
    (None, "xenhost-01", dict(leave_host="xenhost-01")),
    ("", "", {}),                                               # neither: the module says what it needs
    (None, None, {}),
])
def test_the_destination_named_wins_over_the_host_to_leave(dest, leave, passed):
    assert first_given(dict(host=dest, leave_host=leave)) == passed


def test_the_order_given_is_the_precedence():
    assert first_given(dict(uuid="6f1c-uuid", name="inst-1")) == dict(uuid="6f1c-uuid")
    assert first_given(dict(name="inst-1", uuid="6f1c-uuid")) == dict(name="inst-1")
    assert first_given(dict(uuid="", name="inst-1")) == dict(name="inst-1")


@pytest.mark.parametrize("unset", [None, "", [], {}, False])
def test_what_x_or_omit_leaves_out_is_not_set(unset):
    assert first_given(dict(a=unset, b="b")) == dict(b="b")


@pytest.mark.parametrize("bad", ["host", ["host", "xenhost-02"], None])
def test_anything_but_a_map_is_refused_naming_the_filter(bad):
    with pytest.raises(AnsibleFilterError, match="first_given: expected a map"):
        first_given(bad)

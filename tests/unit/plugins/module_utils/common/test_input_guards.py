# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""input_guards: each check names the option it refuses, and lets good input through."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common import input_guards as guards

SPEC = dict(
    password=dict(type="str", no_log=True, aliases=["pwd"]),
    glance=dict(type="dict", options=dict(token=dict(type="str", no_log=True), timeout=dict(type="int"))),
    disks=dict(type="list", elements="dict", options=dict(key=dict(type="str", no_log=True))),
)


def test_nul_bytes_are_found_in_values_keys_and_elements():
    assert guards.option_with_nul(dict(a="x", b=["y", "z\x00"])) == "b[1]"
    assert guards.option_with_nul(dict(m={"k\x00": "v"})) == "m.k\\x00"
    assert guards.option_with_nul(dict(a="x", b=[1, None], c={"d": "e"})) is None


def test_secret_values_under_aliases_in_sub_options_and_around_malformed_elements():
    params = dict(pwd="p1", glance=dict(token="t1"), disks=[dict(key="k1"), "junk", 5])
    assert guards.secret_values(SPEC, params) == {"p1", "t1", "k1"}
    assert guards.secret_values(SPEC, dict(password="")) == set()


def test_malformed_dict_options():
    assert "glance must be a dictionary" in guards.malformed_dict_option(SPEC, dict(glance=5))
    assert "the text 'abc'" in guards.malformed_dict_option(SPEC, dict(glance="abc"))
    assert guards.malformed_dict_option(SPEC, dict(glance="token=x")) is None
    assert "disks[1] must be a dictionary" in guards.malformed_dict_option(SPEC, dict(disks=[{}, "x"]))
    assert guards.malformed_dict_option(SPEC, dict(glance={}, disks=[{}])) is None


def test_integers_must_fit_64_bits():
    spec = dict(size=dict(type="int"), ids=dict(type="list", elements="int"),
                flavor=dict(type="dict", options=dict(root_gb=dict(type="int"))),
                disks=dict(type="list", elements="dict", options=dict(size_mb=dict(type="int"))))
    assert guards.int_range_problem(spec, dict(size=2 ** 63)).startswith("size is out of range")
    assert guards.int_range_problem(spec, dict(size=-(2 ** 63) - 1)) is not None
    assert guards.int_range_problem(spec, dict(ids=[1, 10 ** 30])).startswith("ids[1]")
    assert guards.int_range_problem(spec, dict(flavor=dict(root_gb=10 ** 30))).startswith("flavor.root_gb")
    assert guards.int_range_problem(spec, dict(disks=[dict(size_mb=1), dict(size_mb=2 ** 64)])).startswith(
        "disks[1].size_mb")
    assert guards.int_range_problem(spec, dict(size=2 ** 63 - 1, ids=[0], flavor=None, disks=["junk"])) is None

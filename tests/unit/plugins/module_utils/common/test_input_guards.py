# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""input_guards: each check names the option it refuses, and lets good input through."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common import input_guards as guards
from ansible_collections.novaops.compute.tests.unit.plugins.canaries import KINDS, Canaries, plant

SPEC = dict(
    password=dict(type="str", no_log=True, aliases=["pwd"]),
    timeout=dict(type="int"),
    coalesce_timeout=dict(type="float"),
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


def test_null_does_not_count_in_the_rules():
    assert "One of vm, vdi" in guards.null_rule_problem(dict(vm=None, vdi=None), required_one_of=[["vm", "vdi"]])
    assert guards.null_rule_problem(dict(vm="a", vdi=None), required_one_of=[["vm", "vdi"]]) is None
    rule = [("state", "present", ("vm",))]
    problem = guards.null_rule_problem(dict(state="present", vm=None), required_if=rule)
    assert "state is present, so vm is required" in problem
    assert guards.null_rule_problem(dict(state="absent", vm=None), required_if=rule) is None
    any_of = [("state", "present", ("name", "uuid"), True)]
    assert guards.null_rule_problem(dict(state="present", name=None, uuid="u"), required_if=any_of) is None
    assert "name or uuid" in guards.null_rule_problem(dict(state="present", name=None, uuid=None), required_if=any_of)
    assert "given together" in guards.null_rule_problem(dict(a=1, b=None), required_together=[["a", "b"]])


def test_timeouts():
    assert guards.timeout_problem(SPEC, dict(timeout=-1)).startswith("timeout must be from 0 to")
    assert guards.timeout_problem(SPEC, dict(timeout=2 ** 63)) is not None
    assert "finite" in guards.timeout_problem(SPEC, dict(coalesce_timeout=float("nan")))
    assert "glance.timeout" in guards.timeout_problem(SPEC, dict(glance=dict(timeout=-5)))
    assert guards.timeout_problem(SPEC, dict(timeout=0, coalesce_timeout=600.0, glance=dict(timeout=300))) is None


def test_file_options_must_be_regular_files(tmp_path):
    spec = dict(key_file=dict(type="path"), image=dict(type="path"))
    regular = tmp_path / "key"
    regular.write_text("k")
    assert guards.file_option_problem(spec, dict(key_file=str(regular))) is None
    assert guards.file_option_problem(spec, dict(key_file=str(tmp_path / "missing"))) is None
    assert "not a regular file" in guards.file_option_problem(spec, dict(key_file="/dev/zero"))
    assert "not a regular file" in guards.file_option_problem(spec, dict(key_file=str(tmp_path)))
    assert guards.file_option_problem(spec, dict(image="/dev/zero")) is None     # not a *_file option


@pytest.mark.parametrize("kind", KINDS)
def test_file_options_that_are_plants_are_refused_unread(tmp_path, kind):
    """#18: an ssh key, known_hosts or CA file an option names is read by this root process (or ssh):
    a link (dangling too), a hard link or a FIFO there is refused, sub-options too."""
    spec = dict(ssh_private_key_file=dict(type="path"), glance=dict(type="dict", options=dict(ca_path=dict(type="path"))))
    with Canaries(str(tmp_path / "outside")) as canaries:
        (tmp_path / "keys").mkdir()
        at = str(tmp_path / "keys" / "id")
        plant(kind, at, canaries.make("shadow"), canaries)
        canaries.reset()
        for params, label in ((dict(ssh_private_key_file=at), "ssh_private_key_file"),
                              (dict(glance=dict(ca_path=at)), "glance.ca_path")):
            problem = guards.file_option_problem(spec, params)
            assert problem and label in problem and at in problem, problem
        assert canaries.problems() == []


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


def test_sizes_rates_and_limits_are_not_negative():
    spec = dict(bwlimit=dict(type="int"), offset=dict(type="int"),
                queues=dict(type="list", elements="dict", options=dict(max_rate=dict(type="int"))),
                flavor=dict(type="dict", options=dict(swap_mb=dict(type="int"))))
    assert guards.negative_problem(spec, dict(bwlimit=-1)) == "bwlimit cannot be negative (-1)."
    assert guards.negative_problem(spec, dict(queues=[dict(max_rate=-5)])).startswith("queues[0].max_rate")
    assert guards.negative_problem(spec, dict(flavor=dict(swap_mb=-1))).startswith("flavor.swap_mb")
    assert guards.negative_problem(spec, dict(offset=-1, bwlimit=0, queues=["junk"], flavor=None)) is None

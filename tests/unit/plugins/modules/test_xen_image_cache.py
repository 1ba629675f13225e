# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xen_image_cache's verdict on one cached image: used, young, of unknown age, or going."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.modules.xen_image_cache import age_hours, argument_spec, check_options, verdict

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.timezone.utc)


def test_age_from_the_mark():
    assert age_hours("2026-12-06T12:00:00Z", NOW) == 24.0
    assert age_hours("", NOW) is None
    assert age_hours("yesterday", NOW) is None


def test_a_used_image_is_kept_whatever_its_age():
    assert verdict(["VM web1 (u, running)"], 1000.0, 24) == "used by VM web1 (u, running)"


def test_young_or_unknown_age_is_kept_old_and_unused_goes():
    assert "younger than min_age_hours 24" in verdict([], 23.9, 24)
    assert "age is unknown" in verdict([], None, 24)
    assert verdict([], 24.0, 24) is None
    assert verdict([], 0.0, 0) is None


def test_options_are_checked_naming_them():
    params = dict(min_age_hours=0.0, images=["5D3C7F0E-8A7B-4C57-9A52-2F1F63A1C0DE", "5d3c7f0e-8a7b-4c57-9a52-2f1f63a1c0de"])
    check_options(params)
    assert params["images"] == ["5d3c7f0e-8a7b-4c57-9a52-2f1f63a1c0de"]
    age_rule = argument_spec().input_rules["min_age_hours"]      # checked by NovaopsModule, before check_options
    for age in (-1.0, float("nan"), float("inf"), 1e308):
        assert "min_age_hours must be between 0 and 876000" in age_rule.problem("min_age_hours", age, {})
    assert age_rule.problem("min_age_hours", 0.0, {}) is None
    for image_id in ("", "bi-dup", "../../etc/passwd"):
        with pytest.raises(NovaopsError, match="Glance image ID in images"):
            check_options(dict(min_age_hours=24.0, images=[image_id]))

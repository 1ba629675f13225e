# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xen_image refuses a download limit no image can keep, naming max_bytes, before any connection: the rules
declared beside its argument spec; the dom0 plugin's failures said plainly."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.input_rules import check_rules
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIError
from ansible_collections.novaops.compute.plugins.modules.xen_image import _plugin_sentence, argument_spec


def problem(**params):
    values = dict(max_bytes=None, download_timeout=3600)
    values.update(params)
    return check_rules(argument_spec().input_rules, values)[0]


def test_max_bytes_unset_or_positive_passes():
    assert problem(max_bytes=None) is None
    assert problem(max_bytes=1) is None


@pytest.mark.parametrize("value", [0, -1, -2 ** 63])
def test_max_bytes_below_one_is_refused(value):
    assert "max_bytes" in problem(max_bytes=value)


@pytest.mark.parametrize("value", [-1, -5, 10 ** 12])
def test_a_download_timeout_out_of_range_is_refused(value):
    assert "download_timeout" in problem(download_timeout=value)


def test_a_full_sr_is_said_with_the_bytes_and_the_cure():
    sentence = _plugin_sentence(XenAPIError("NOVAOPS_SR_FULL", ["/var/run/sr-mount/x", "1048576"]))
    assert "ran out of space after 1048576 bytes" in sentence and "nothing was imported" in sentence
    assert "instance_sr" in sentence

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xen_image refuses a download limit no image can keep, naming max_bytes, before any connection."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.modules.xen_image import check_options


def test_max_bytes_unset_or_positive_passes():
    check_options(dict(max_bytes=None))
    check_options(dict(max_bytes=1))


@pytest.mark.parametrize("value", [0, -1, -2 ** 63])
def test_max_bytes_below_one_is_refused(value):
    with pytest.raises(NovaopsError, match="max_bytes must be at least 1"):
        check_options(dict(max_bytes=value))

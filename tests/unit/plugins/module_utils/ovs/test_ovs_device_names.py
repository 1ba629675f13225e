# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ovs.check_device_name: the kernel's rule for netdev names, and no leading '-' (#13 corpus)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.ovs.ovsdb import check_device_name


@pytest.mark.parametrize("name", ["tap6b8b4567-32", "br-int", "eth0.100", "vnet12", "a" * 15, "\u00e9th0"])
def test_device_names_the_kernel_takes(name):
    assert check_device_name(name) == name


@pytest.mark.parametrize("name", ["", "a" * 16, "\u00e9" * 8, ".", "..", "a/b", "eth0:1", "a b", "a\nb", "-rf", "--help",
                                  "a\tb"])
def test_names_no_netdev_can_have(name):
    with pytest.raises(NovaopsError) as failed:
        check_device_name(name, "port")
    assert "not a valid port name" in failed.value.msg

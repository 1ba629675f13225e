# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt.check_domain_name: what libvirt can define, refused before anything else (#13 corpus)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import check_domain_name


@pytest.mark.parametrize("name", ["instance-0000abcd", "web 1", "\u540d\u524d-\u00e9", "--help", "*", "a" * 200])
def test_names_libvirt_defines(name):
    assert check_domain_name(name) == name


@pytest.mark.parametrize("name", ["", "   ", " lead", "trail ", "a/b", "../../etc/passwd", "a\nb", "a\tb", "a" * 201,
                                  "\u00e9" * 101])
def test_names_it_cannot(name):
    with pytest.raises(NovaopsError, match="not a usable domain name"):
        check_domain_name(name)

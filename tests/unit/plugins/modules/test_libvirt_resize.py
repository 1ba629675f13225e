# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The module loads, its options compose, and an action's OS error becomes a failure that names it."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.modules import libvirt_resize


def test_the_options_compose_without_clashes():
    spec = libvirt_resize.argument_spec().argument_spec
    assert spec["state"]["choices"] == ["migrated", "confirmed", "reverted"]
    assert spec["ssh_private_key"]["no_log"] is True
    assert spec["insecure_ignore_host_key"]["default"] is False
    assert "uri" in spec


def test_an_os_error_of_an_action_names_the_action():
    @libvirt_resize.foreseen("moving the instance directory to _resize")
    def move():
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    with pytest.raises(NovaopsError, match="Moving the instance directory to _resize failed: .*cross-device"):
        move()


def test_foreseen_faults_pass_through_and_bugs_stay_bugs():
    @libvirt_resize.foreseen("copying")
    def refused():
        raise NovaopsError("no space")

    @libvirt_resize.foreseen("copying")
    def bug():
        raise KeyError("name")

    with pytest.raises(NovaopsError, match="^no space$"):
        refused()
    with pytest.raises(KeyError):
        bug()

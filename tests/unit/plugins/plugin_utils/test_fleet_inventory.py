# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.plugin_utils import fleet_inventory as fi


def test_matches():
    assert fi.matches("fr-a01", ["fr-*"], [])
    assert not fi.matches("fr-a01", ["fr-*"], ["*-a0?"])
    assert not fi.matches("other", ["fr-*"], [])
    assert not fi.matches(None, ["fr-*"], [])


def test_values_are_wrapped_unsafe_only_before_2_19():
    assert fi._needs_unsafe_wrap("2.17.3") and fi._needs_unsafe_wrap("2.18.0")
    assert not fi._needs_unsafe_wrap("2.19.14") and not fi._needs_unsafe_wrap("2.20.0.dev0")


def test_local_connection_uses_this_interpreter():
    out = fi.local_connection_vars()
    assert out["ansible_connection"] == "local" and out["ansible_python_interpreter"]

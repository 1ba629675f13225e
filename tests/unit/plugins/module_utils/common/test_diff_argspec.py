# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import libvirt_argument_spec
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import xenapi_argument_spec


def test_merge_refuses_an_option_defined_twice():
    spec = xenapi_argument_spec()
    with pytest.raises(ValueError, match="url"):
        spec.merge(ArgumentSpec(dict(url=dict(type="str"))))


def test_connection_specs_fall_back_to_the_environment_and_hide_secrets():
    xen = xenapi_argument_spec().argument_spec
    assert xen["url"]["fallback"][1] == ["XENAPI_URL"]
    assert xen["password"]["no_log"] is True
    assert xen["validate_certs"]["default"] is True
    assert libvirt_argument_spec().argument_spec["uri"]["fallback"][1] == ["LIBVIRT_DEFAULT_URI"]


def test_merge_keeps_rules_of_both_sides():
    spec = ArgumentSpec(dict(a=dict(type="str")), mutually_exclusive=[["a", "b"]])
    spec.merge(ArgumentSpec(dict(b=dict(type="str")), required_one_of=[["a", "b"]]))
    assert set(spec.argument_spec) == {"a", "b"}
    assert spec.mutually_exclusive == [["a", "b"]] and spec.required_one_of == [["a", "b"]]

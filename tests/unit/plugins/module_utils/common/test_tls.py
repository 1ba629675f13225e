# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""tls.client_context: verification on by default, a bad ca_path is a clear NovaopsError (#13 corpus)."""

from __future__ import annotations

import ssl

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.tls import client_context


def test_verification_is_on_by_default():
    context = client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_validate_certs_false_turns_it_off():
    context = client_context(validate_certs=False)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


@pytest.mark.parametrize("ca_path", ["/nonexistent/ca.pem", "/etc", "/etc/hostname", "/dev/null", "bi\nx"])
def test_a_ca_path_that_is_no_bundle_fails_clearly(ca_path):
    with pytest.raises(NovaopsError) as failed:
        client_context(ca_path)
    assert "ca_path" in failed.value.msg and failed.value.facts["ca_path"] == ca_path

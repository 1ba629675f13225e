# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""xen_snapshot and xen_image hand the dom0 glance plugin the CA bundle Glance is verified against, as content
(the plugin's use of it runs on the simulator: tools/xapisim/tests/test_plugin_security.py)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient
from ansible_collections.novaops.compute.plugins.module_utils.glance.plugin_args import ca_pem as _ca_pem

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_the_ca_bundle_goes_to_the_plugin_as_content(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    assert _ca_pem(GlanceClient("https://glance.example:9292", ca_path=str(ca))) == PEM


def test_no_ca_without_ca_path_or_without_verification(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    assert _ca_pem(GlanceClient("https://glance.example:9292")) is None
    assert _ca_pem(GlanceClient("https://glance.example:9292", ca_path=str(ca), validate_certs=False)) is None


def test_an_unreadable_ca_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(NovaopsError, match="glance.ca_path .* cannot be read"):
        _ca_pem(GlanceClient("https://glance.example:9292", ca_path=str(tmp_path / "missing.pem")))

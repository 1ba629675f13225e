# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""GlanceClient refuses auth values an HTTP header cannot carry, without showing them (#13 corpus)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient


@pytest.mark.parametrize("field", ["token", "project_id", "roles"])
@pytest.mark.parametrize("value", ["bi-secret-\u202e", "bi-secret\nX-Injected: 1", " bi-secret", "bi-secret\x7f"])
def test_header_values_that_http_cannot_carry_are_refused(field, value):
    with pytest.raises(NovaopsError) as failed:
        GlanceClient("http://127.0.0.1:1", **{field: [value] if field == "roles" else value})
    assert "glance.%s" % field in failed.value.msg and "bi-secret" not in failed.value.msg


def test_plain_values_are_taken():
    client = GlanceClient("http://127.0.0.1:1", token="gAAAA-bi_token.1", project_id="p-1", roles=["admin", "member"])
    assert client.auth_headers() == {"X-Auth-Token": "gAAAA-bi_token.1", "X-Tenant-Id": "p-1", "X-Project-Id": "p-1",
                                     "X-Roles": "admin,member"}


@pytest.mark.parametrize("url", ["http://[::1", "http://host:port/", "file:///etc/passwd", "https://", "http://a b/",
                                 "http://x\n/"])
def test_endpoints_that_are_no_http_url(url):
    with pytest.raises(NovaopsError, match="is not an http"):
        GlanceClient(url)


def test_which_failures_are_worth_another_try():
    from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceError
    assert GlanceError("x", status=503).transient and GlanceError("x", status=None).transient
    assert not GlanceError("x", status=None, timed_out=True).transient
    assert not GlanceError("x", status=404).transient and not GlanceError("x", status=409).transient

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A cloud of clouds.yaml as the Glance client gets it from openstacksdk's loader: what each auth type
that needs no Keystone gives (endpoint, headers), secure.yaml, the cloud's verify and cacert, and the
error when openstacksdk is missing.  Keystone itself (password, token, application credential, the
catalog, renewal) is met for real by the glance_keystone integration target."""

from __future__ import annotations

import sys

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.glance import client as gl
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

pytest.importorskip("openstack.config")

GLANCE = "http://127.0.0.1:19292"


@pytest.fixture
def clouds(tmp_path, monkeypatch):
    """Write a clouds.yaml (and a secure.yaml) that openstacksdk finds through OS_CLIENT_*_FILE."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in list(__import__("os").environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)

    def write(text, secure=None):
        (tmp_path / "clouds.yaml").write_text(text)
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
        if secure is not None:
            (tmp_path / "secure.yaml").write_text(secure)
            monkeypatch.setenv("OS_CLIENT_SECURE_FILE", str(tmp_path / "secure.yaml"))
    return write


def test_auth_type_none_sends_no_token_but_the_tasks_project_and_roles(clouds):
    clouds("clouds:\n  lab:\n    auth_type: none\n    image_endpoint_override: %s/v2\n" % GLANCE)
    client = gl.GlanceClient.from_params(dict(cloud="lab", project_id="p1", roles=["admin"]))
    assert client.endpoint == GLANCE
    assert client.auth_headers() == {"X-Tenant-Id": "p1", "X-Project-Id": "p1", "X-Roles": "admin"}


def test_auth_type_none_takes_auth_endpoint(clouds):
    clouds("clouds:\n  lab:\n    auth_type: none\n    auth: {endpoint: %s}\n" % GLANCE)
    assert gl.GlanceClient.from_cloud("lab").endpoint == GLANCE


def test_admin_token_from_secure_yaml_is_sent_as_it_is(clouds):
    clouds("clouds:\n  lab:\n    auth_type: admin_token\n    auth: {endpoint: %s}\n" % GLANCE,
           secure="clouds:\n  lab:\n    auth: {token: s3cret}\n")
    client = gl.GlanceClient.from_cloud("lab")
    assert client.endpoint == GLANCE
    assert client.auth_headers() == {"X-Auth-Token": "s3cret"}


def test_an_unknown_cloud_is_named(clouds):
    clouds("clouds:\n  lab:\n    auth_type: none\n    image_endpoint_override: %s\n" % GLANCE)
    with pytest.raises(NovaopsError, match=r"Cannot use cloud 'elsewhere' of clouds.yaml \(.*/clouds.yaml\): .*not found"):
        gl.GlanceClient.from_cloud("elsewhere")


def test_from_params_prefers_the_cloud(clouds):
    clouds("clouds:\n  lab:\n    auth_type: none\n    image_endpoint_override: %s\n" % GLANCE)
    client = gl.GlanceClient.from_params(dict(cloud="lab", url="http://ignored:1", timeout=7))
    assert (client.endpoint, client.timeout) == (GLANCE, 7)


@pytest.mark.parametrize("option, verify, cacert, expected", [
    (None, False, None, (False, None)),                  # the cloud's verify: false applies
    (True, False, None, (False, None)),                  # the option's default does not override it
    (True, True, "/etc/ca.pem", (True, "/etc/ca.pem")),  # the cloud's cacert applies
    (False, True, None, (False, None)),                  # the task opts out
])
def test_a_clouds_verify_and_cacert_apply_unless_the_task_decides(clouds, option, verify, cacert, expected):
    extra = "    verify: %s\n" % ("true" if verify else "false")
    if cacert:
        extra += "    cacert: %s\n" % cacert
    clouds("clouds:\n  lab:\n    auth_type: none\n    image_endpoint_override: https://glance.example:9292\n"
           + extra)
    params = dict(cloud="lab", validate_certs=option, ca_path=None, timeout=None)
    if option is None:
        del params["validate_certs"]
    client = gl.GlanceClient.from_params(params)
    assert (client.validate_certs, client.ca_path) == expected


def test_without_openstacksdk_the_error_names_the_package(clouds, monkeypatch):
    clouds("clouds:\n  lab:\n    auth_type: none\n    image_endpoint_override: %s\n" % GLANCE)
    monkeypatch.setitem(sys.modules, "openstack", None)     # import openstack now fails
    with pytest.raises(NovaopsError, match=r"glance.cloud needs the Python package openstacksdk .*pip install "
                                           r"openstacksdk.*glance.url"):
        gl.GlanceClient.from_cloud("lab")


def test_a_url_and_token_need_no_openstacksdk(monkeypatch):
    monkeypatch.setitem(sys.modules, "openstack", None)
    monkeypatch.setitem(sys.modules, "keystoneauth1", None)
    client = gl.GlanceClient.from_params(dict(url=GLANCE, token="t0k"))
    assert client.auth_headers() == {"X-Auth-Token": "t0k"}


def test_auth_headers_carry_the_noauth_project_and_roles():
    client = gl.GlanceClient(GLANCE, project_id="p1", roles=["admin", "member"])
    assert client.auth_headers() == {"X-Tenant-Id": "p1", "X-Project-Id": "p1", "X-Roles": "admin,member"}
    assert client._headers()["User-Agent"] == gl.USER_AGENT

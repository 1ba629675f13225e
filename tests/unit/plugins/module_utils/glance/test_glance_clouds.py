# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""clouds.yaml as openstack.cloud / openstacksdk read it: where the file is found, which file wins,
secure.yaml merged in, and what each auth_type gives the Glance client (endpoint, token, headers)."""

from __future__ import annotations

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.glance import client as gl
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

pytest.importorskip("yaml")

GLANCE = "http://127.0.0.1:19292"


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty cwd and home, no OS_* variables: the search path under the test's control."""
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    for name in ("OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE", "OS_CLOUD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gl, "CLOUD_CONFIG_DIRS", ("~/.config/openstack", str(tmp_path / "etc-openstack")))
    return dict(cwd=cwd, home=home, etc=tmp_path / "etc-openstack", tmp=tmp_path)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cloud(name, endpoint, auth_type="none", extra=""):
    return ("clouds:\n  %s:\n    auth_type: %s\n    image_endpoint_override: %s\n%s"
            % (name, auth_type, endpoint, extra))


def test_search_order_is_openstacksdks(places, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "/x/override.yaml")
    files = gl.cloud_config_files()
    assert files[0] == "/x/override.yaml"
    assert files[1:4] == [str(places["cwd"] / ("clouds" + s)) for s in (".yaml", ".yml", ".json")]
    assert files[4] == str(places["home"] / ".config" / "openstack" / "clouds.yaml")
    assert files[-3] == str(places["etc"] / "clouds.yaml")


@pytest.mark.parametrize("where", ["env", "cwd", "home", "etc"])
def test_each_place_is_found(places, monkeypatch, where):
    target = {"env": places["tmp"] / "elsewhere" / "c.yaml", "cwd": places["cwd"] / "clouds.yaml",
              "home": places["home"] / ".config" / "openstack" / "clouds.yaml",
              "etc": places["etc"] / "clouds.yaml"}[where]
    write(target, cloud("lab", "http://%s:9292" % where))
    if where == "env":
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(target))
    client = gl.GlanceClient.from_cloud("lab")
    assert client.endpoint == "http://%s:9292" % where
    assert client.auth_headers() == {}


def test_the_first_file_found_wins(places):
    write(places["cwd"] / "clouds.yaml", cloud("other", "http://cwd:9292"))
    write(places["etc"] / "clouds.yaml", cloud("lab", "http://etc:9292"))
    with pytest.raises(NovaopsError, match=r"No cloud named 'lab' in .*cwd/clouds.yaml \(it has other\)"):
        gl.GlanceClient.from_cloud("lab")


def test_no_file_at_all(places):
    with pytest.raises(NovaopsError, match="No clouds.yaml found"):
        gl.GlanceClient.from_cloud("lab")


def test_secure_yaml_is_merged_over_the_cloud(places):
    write(places["cwd"] / "clouds.yaml", cloud("lab", GLANCE, "admin_token", "    auth: {endpoint: http://x}\n"))
    write(places["home"] / ".config" / "openstack" / "secure.yaml", "clouds:\n  lab:\n    auth: {token: s3cret}\n")
    client = gl.GlanceClient.from_cloud("lab")
    assert client.endpoint == GLANCE
    assert client.auth_headers() == {"X-Auth-Token": "s3cret"}


@pytest.mark.parametrize("auth_type", ["none", "noauth"])
def test_no_auth_sends_no_token(places, auth_type):
    write(places["cwd"] / "clouds.yaml", cloud("lab", GLANCE + "/v2", auth_type, "    auth: {token: ignored}\n"))
    client = gl.GlanceClient.from_cloud("lab")
    assert (client.endpoint, client.token, client.auth_headers()) == (GLANCE, None, {})


def test_no_auth_takes_auth_endpoint(places):
    write(places["cwd"] / "clouds.yaml", "clouds:\n  lab:\n    auth_type: none\n    auth: {endpoint: %s}\n" % GLANCE)
    assert gl.GlanceClient.from_cloud("lab").endpoint == GLANCE


@pytest.mark.parametrize("auth_type", ["token", "v3token", None])
def test_token_with_an_endpoint_override_is_sent_as_it_is(places, auth_type):
    text = ("clouds:\n  lab:\n%s    image_endpoint_override: %s\n    auth: {token: t0k, auth_url: http://ks:5000}\n"
            % ("    auth_type: %s\n" % auth_type if auth_type else "", GLANCE))
    write(places["cwd"] / "clouds.yaml", text)
    client = gl.GlanceClient.from_cloud("lab")
    assert client.endpoint == GLANCE
    assert client.auth_headers() == {"X-Auth-Token": "t0k"}


def test_auth_headers_carry_the_noauth_project_and_roles():
    client = gl.GlanceClient(GLANCE, project_id="p1", roles=["admin", "member"])
    assert client.auth_headers() == {"X-Tenant-Id": "p1", "X-Project-Id": "p1", "X-Roles": "admin,member"}
    assert client._headers()["User-Agent"] == gl.USER_AGENT


@pytest.mark.parametrize("text, msg", [
    ("clouds:\n  lab:\n    auth_type: none\n", "no image_endpoint_override or auth.endpoint"),
    ("clouds:\n  lab:\n    auth_type: v3oidcpassword\n    image_endpoint_override: %s\n" % GLANCE,
     "auth_type 'v3oidcpassword' is not supported"),
    ("clouds:\n  lab:\n    auth: {username: u, password: p}\n", "has no auth.auth_url"),
    ("clouds: [oops\n", "Cannot read the clouds.yaml"),
])
def test_unusable_clouds_fail_clearly(places, text, msg):
    write(places["cwd"] / "clouds.yaml", text)
    with pytest.raises(NovaopsError, match=msg):
        gl.GlanceClient.from_cloud("lab")


def test_from_params_prefers_the_cloud(places):
    write(places["cwd"] / "clouds.yaml", cloud("lab", GLANCE))
    client = gl.GlanceClient.from_params(dict(cloud="lab", url="http://ignored:1", timeout=7))
    assert (client.endpoint, client.timeout) == (GLANCE, 7)


@pytest.mark.parametrize("option, verify, cacert, expected", [
    (None, False, None, (False, None)),                  # the cloud's verify: false applies
    (True, False, None, (False, None)),                  # the option's default does not override it
    (True, True, "/etc/ca.pem", (True, "/etc/ca.pem")),  # the cloud's cacert applies
    (False, True, None, (False, None)),                  # the task opts out
])
def test_a_clouds_verify_and_cacert_apply_unless_the_task_decides(places, option, verify, cacert, expected):
    extra = "    verify: %s\n" % ("true" if verify else "false")
    if cacert:
        extra += "    cacert: %s\n" % cacert
    write(places["cwd"] / "clouds.yaml", cloud("lab", "https://glance.example:9292", extra=extra))
    params = dict(cloud="lab", validate_certs=option, ca_path=None, timeout=None)
    if option is None:
        del params["validate_certs"]
    client = gl.GlanceClient.from_params(params)
    assert (client.validate_certs, client.ca_path) == expected

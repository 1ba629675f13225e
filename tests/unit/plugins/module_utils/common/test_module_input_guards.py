# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""NovaopsModule's guards found by the bad-input corpus (#13): NUL bytes refused in any option,
and no_log values hidden even when ansible-core's own collection of them gives up."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from ansible.module_utils import basic
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules
from ansible_collections.novaops.compute.plugins.module_utils.common.module import NovaopsModule

SPEC = dict(
    url=dict(type="str"),
    password=dict(type="str", no_log=True, aliases=["pass"]),
    disks=dict(type="list", elements="dict", options=dict(name=dict(type="str"), key=dict(type="str", no_log=True))),
    glance=dict(type="dict", apply_defaults=True, options=dict(
        token=dict(type="str", no_log=True), url=dict(type="str", fallback=(env_fallback, ["BI_GUARDS_GLANCE_URL"])))),
)


def run_module(args, capsys, monkeypatch):
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(dict(ANSIBLE_MODULE_ARGS=args))))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    with pytest.raises(SystemExit):
        module = NovaopsModule(argument_spec=SPEC, supports_check_mode=True)
        module.exit_json(changed=False)
    return capsys.readouterr().out


def test_a_malformed_sub_option_does_not_unmask_the_password(capsys, monkeypatch):
    # ansible-core gives up collecting no_log values when one list element is not a dict
    out = run_module(dict(url="https://x", password="bi-pass-Secret-1", disks=["not-a-dict"],
                          glance=dict(token="bi-token-Secret-2")), capsys, monkeypatch)
    result = json.loads(out)
    assert result["failed"]
    assert "bi-pass-Secret-1" not in out and "bi-token-Secret-2" not in out


def test_secrets_given_under_an_alias_and_in_sub_options_are_hidden(capsys, monkeypatch):
    out = run_module(dict(url="https://x", **{"pass": "bi-pass-Secret-3"}, disks=[dict(name="a", key="bi-key-Secret-4"), 7]),
                     capsys, monkeypatch)
    assert "bi-pass-Secret-3" not in out and "bi-key-Secret-4" not in out


def test_a_nul_byte_is_refused_and_named(capsys, monkeypatch):
    out = run_module(dict(url="https://x", disks=[dict(name="a\x00b")]), capsys, monkeypatch)
    result = json.loads(out)
    assert result["failed"] and "disks[0].name" in result["msg"] and "NUL" in result["msg"]


def test_a_nul_byte_in_a_secret_is_refused_without_showing_it(capsys, monkeypatch):
    out = run_module(dict(url="https://x", password="bi-Secret\x00-5"), capsys, monkeypatch)
    result = json.loads(out)
    assert result["failed"] and "password" in result["msg"] and "bi-Secret" not in out


def test_a_clean_run_is_untouched(capsys, monkeypatch):
    out = run_module(dict(url="https://x", password="bi-pass-Secret-6", disks=[dict(name="a")]), capsys, monkeypatch)
    result = json.loads(out)
    assert result["changed"] is False and "failed" not in result and "bi-pass-Secret-6" not in out


def test_a_dict_option_given_text_or_a_number_fails_naming_it(capsys, monkeypatch):
    # with a sub-option's environment fallback set (as glance_argument_spec's OS_IMAGE_URL),
    # ansible-core's set_fallbacks raises a TypeError on these
    monkeypatch.setenv("BI_GUARDS_GLANCE_URL", "http://127.0.0.1:1")
    for value, expected in (("bi-not-a-dict", "glance must be a dictionary"), (5, "glance must be a dictionary")):
        result = json.loads(run_module(dict(url="https://x", password="bi-pass-Secret-7", glance=value), capsys,
                                       monkeypatch))
        assert result["failed"] and expected in result["msg"] and "bi-pass-Secret-7" not in json.dumps(result)


def test_null_does_not_satisfy_required_one_of(capsys, monkeypatch):
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(dict(ANSIBLE_MODULE_ARGS=dict(vm=None)))))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    with pytest.raises(SystemExit):
        NovaopsModule(argument_spec=dict(vm=dict(type="str"), vdi=dict(type="str")), required_one_of=[["vm", "vdi"]])
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "one of the following is required: vm, vdi" in result["msg"]


def test_null_is_an_option_not_given(capsys, monkeypatch):
    # ansible-core's own rules see it as unset (required_if, mutually_exclusive)
    args = dict(state="present", vm=None, vdi="d", mode=None)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(dict(ANSIBLE_MODULE_ARGS=args))))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    spec = dict(state=dict(type="str"), vm=dict(type="str"), vdi=dict(type="str"), mode=dict(type="str", default="x"))
    with pytest.raises(SystemExit):
        NovaopsModule(argument_spec=spec, required_if=[("state", "present", ("vm",))])
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "state is present but all of the following are missing: vm" in result["msg"]
    with pytest.raises(SystemExit):
        module = NovaopsModule(argument_spec=spec, mutually_exclusive=[("vm", "vdi")])
        module.exit_json(changed=False, params=module.params)
    result = json.loads(capsys.readouterr().out)
    assert "failed" not in result and result["params"]["vm"] is None


@pytest.mark.parametrize("timeout", [-1, 10 ** 30])
def test_a_timeout_out_of_range_is_refused(timeout, capsys, monkeypatch):
    args = dict(url="https://x", glance=dict(timeout=timeout))
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(dict(ANSIBLE_MODULE_ARGS=args))))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    spec = dict(url=dict(type="str"), glance=dict(type="dict", options=dict(timeout=dict(type="int"))))
    with pytest.raises(SystemExit):
        NovaopsModule(argument_spec=spec, input_rules={"glance.timeout": rules.SECONDS})
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "glance.timeout must be from 0 to" in result["msg"]


# -- #18: validate_certs false is warned about; URLs are shown without credentials ------------------
TLS_SPEC = dict(
    url=dict(type="str"), validate_certs=dict(type="bool", default=True),
    dest_url=dict(type="str"), dest_validate_certs=dict(type="bool"),
    glance=dict(type="dict", options=dict(url=dict(type="str"), cloud=dict(type="str"),
                                          validate_certs=dict(type="bool", default=True))),
    image=dict(type="dict", options=dict(url=dict(type="str"), path=dict(type="path"),
                                         validate_certs=dict(type="bool", default=True))),
)


TLS_RULES = {"validate_certs": rules.TlsSwitch(("url",)),
             "dest_validate_certs": rules.TlsSwitch(("dest_url",), inherits="validate_certs"),
             "glance.validate_certs": rules.TlsSwitch(("url", "cloud")),
             "image.validate_certs": rules.TlsSwitch(("url",))}


def run_tls_module(args, capsys, monkeypatch, fail=None):
    """The module's result, with its warnings as plain messages (they are process-wide: cleared first)."""
    from ansible.module_utils.common import warnings as ansible_warnings
    monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(dict(ANSIBLE_MODULE_ARGS=args))))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    with pytest.raises(SystemExit):
        module = NovaopsModule(argument_spec=TLS_SPEC, supports_check_mode=True, input_rules=TLS_RULES)
        if fail:
            module.fail_json(msg=fail, url=args.get("url"))
        module.exit_json(changed=False, image=dict(id=(args.get("image") or {}).get("url")))
    out = capsys.readouterr().out
    result = json.loads(out)
    result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings") or []]
    return result, out


def test_each_validate_certs_turned_off_is_warned_about_naming_the_option_and_the_endpoint(capsys, monkeypatch):
    result, out = run_tls_module(dict(url="https://xen1.example.com", validate_certs=False,
                                      dest_url="https://xen2.example.com",
                                      glance=dict(url="https://bi-user:bi-s3cr3t@glance.example.com:9292",
                                                  validate_certs=False),
                                      image=dict(url="https://images.example.com/a.qcow2?sig=bi-sig1",
                                                 validate_certs=False)), capsys, monkeypatch)
    warnings = result["warnings"]
    assert len(warnings) == 4, warnings
    assert any(w.startswith("validate_certs is false") and "https://xen1.example.com" in w for w in warnings)
    assert any(w.startswith("dest_validate_certs (unset, so validate_certs)") and "xen2" in w for w in warnings)
    assert any(w.startswith("glance.validate_certs is false") and "https://***@glance.example.com:9292" in w
               for w in warnings)
    assert any(w.startswith("image.validate_certs is false") and "sig=***" in w for w in warnings)
    assert "bi-s3cr3t" not in out and "bi-sig1" not in out


def test_no_warning_where_nothing_is_reached_over_tls(capsys, monkeypatch):
    result, _out = run_tls_module(dict(url="http://xen1.example.com", validate_certs=False,
                                       image=dict(path="/srv/a.qcow2", validate_certs=False),
                                       glance=dict(cloud="mycloud")), capsys, monkeypatch)
    assert not result.get("warnings")
    result, _out = run_tls_module(dict(glance=dict(cloud="mycloud", validate_certs=False)), capsys, monkeypatch)
    assert result["warnings"] == ["glance.validate_certs is false: the TLS certificate of cloud mycloud is not "
                                  "verified, so anyone on the network path can pose as it and see what is sent to it. "
                                  "Give its CA (ca_path) instead."]


def test_credentials_in_urls_never_reach_the_output(capsys, monkeypatch):
    url = "https://bi-user:bi-s3cr3t@images.example.com/a.qcow2?X-Amz-Signature=bi-sig2"
    result, out = run_tls_module(dict(url="https://bi-user:bi-s3cr3t@xen1", image=dict(url=url)), capsys, monkeypatch,
                                 fail="Fetching image %s failed: timed out" % url)
    assert result["failed"] and "https://***@images.example.com/a.qcow2?X-Amz-Signature=***" in result["msg"]
    assert result["invocation"]["module_args"]["image"]["url"].startswith("https://***@images.example.com")
    assert "bi-s3cr3t" not in out and "bi-sig2" not in out
    result, out = run_tls_module(dict(image=dict(url=url)), capsys, monkeypatch)
    assert result["image"]["id"] == "https://***@images.example.com/a.qcow2?X-Amz-Signature=***"
    assert "bi-s3cr3t" not in out and "bi-sig2" not in out


CONNECTION_SPEC = dict(
    username=dict(type="str", default="root", fallback=(env_fallback, ["BI_GUARDS_USERNAME"])),
    validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["BI_GUARDS_VALIDATE_CERTS"])),
)


def module_params(args, monkeypatch):
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(dict(ANSIBLE_MODULE_ARGS=args))))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy")
    return NovaopsModule(argument_spec=CONNECTION_SPEC, supports_check_mode=True).params


def test_a_null_option_with_a_fallback_gets_its_default(monkeypatch):
    # an inventory's xenapi_validate_certs: null, passed on by a role's connection dict
    params = module_params(dict(username=None, validate_certs=None), monkeypatch)
    assert params["username"] == "root" and params["validate_certs"] is True


def test_a_null_option_with_a_fallback_gets_the_environment(monkeypatch):
    monkeypatch.setenv("BI_GUARDS_VALIDATE_CERTS", "false")
    monkeypatch.setenv("BI_GUARDS_USERNAME", "ops")
    params = module_params(dict(username=None, validate_certs=None), monkeypatch)
    assert params["username"] == "ops" and params["validate_certs"] is False


def test_a_run_that_shows_no_url_does_not_load_the_redaction(capsys, monkeypatch):
    # module.py imported afresh, without redact.py in sys.modules: only a run with a URL to show loads it
    name = NovaopsModule.__module__
    package = sys.modules[name.rpartition(".")[0]]
    monkeypatch.setattr(package, "module", sys.modules[name])
    monkeypatch.delitem(sys.modules, name)
    if hasattr(package, "redact"):
        monkeypatch.delitem(sys.modules, package.redact.__name__)
        monkeypatch.delattr(package, "redact")
    fresh = importlib.import_module(name)
    monkeypatch.setattr(sys.modules[__name__], "NovaopsModule", fresh.NovaopsModule)
    result = json.loads(run_module(dict(password="bi-pass-Secret-8", disks=[dict(name="a")]), capsys, monkeypatch))
    assert result["invocation"]["module_args"]["disks"] == [dict(name="a", key=None)]
    assert not hasattr(package, "redact")
    result = json.loads(run_module(dict(url="https://bi-user:bi-s3cr3t@x"), capsys, monkeypatch))
    assert result["invocation"]["module_args"]["url"] == "https://***@x"

"""Wire protocol, sessions and generic methods, through the XenAPI SDK only."""

import json
import ssl
import urllib.request
import xmlrpc.client

import pytest
import XenAPI

from conftest import failure


def raw_call(sim, method, *params, path="/"):
    proxy = xmlrpc.client.ServerProxy(sim.url + path, allow_none=True)
    return getattr(proxy, method)(*params)


def test_login_failure_exact(sim):
    s = XenAPI.Session(sim.url)
    d = failure(s.login_with_password, "root", "wrong", "1.0", "t")
    assert d == ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]
    d = failure(s.login_with_password, "admin", sim.password)
    assert d == ["SESSION_AUTHENTICATION_FAILED", "admin", "Authentication failure"]


def test_login_two_args_and_logout(sim):
    s = XenAPI.Session(sim.url)
    s.login_with_password(sim.user, sim.password)
    ref = s._session
    assert ref.startswith("OpaqueRef:")
    assert s.xenapi.pool.get_all()
    s.xenapi.session.logout()
    res = raw_call(sim, "pool.get_all", ref)
    assert res == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", ref]}


def test_sdk_relogin_after_expire(sim, session):
    old = session._session
    assert sim.sim("expire_session", old) == 1
    assert raw_call(sim, "VM.get_all", old)["ErrorDescription"] == ["SESSION_INVALID", old]
    # the SDK sees SESSION_INVALID, logs in again and retries
    assert session.xenapi.VM.get_all()
    assert session._session != old


def test_expire_via_xenapi(sim, session):
    old = session._session
    assert session.xenapi.sim.expire_session(old) in (1, "1")
    session.xenapi.host.get_all()
    assert session._session != old


def test_idle_timeout(tmp_path):
    from conftest import start_server, stop_server
    info, _, _ = start_server(str(tmp_path), name="pool-idle", extra=["--session-timeout", "0.5"])
    try:
        s = XenAPI.Session(info.url)
        s.login_with_password("root", info.password)
        ref = s._session
        import time
        time.sleep(1.0)
        assert raw_call(info, "VM.get_all", ref)["ErrorDescription"] == ["SESSION_INVALID", ref]
    finally:
        stop_server(info)


def test_envelopes_and_types(sim, session):
    ref = session._session
    res = raw_call(sim, "host.get_all_records", ref)
    assert res["Status"] == "Success"
    host = list(res["Value"].values())[0]
    assert host["API_version_major"] == "2"          # ints are decimal strings
    assert host["enabled"] is True                    # bools are booleans
    assert isinstance(host["last_software_update"], xmlrpc.client.DateTime)
    assert host["last_software_update"].value.endswith("Z")
    assert host["local_cache_sr"] == "OpaqueRef:NULL"
    vm = list(raw_call(sim, "VM.get_all_records", ref)["Value"].values())[0]
    assert isinstance(vm["HVM_shadow_multiplier"], float)
    assert isinstance(vm["other_config"], dict) and isinstance(vm["VBDs"], list)
    assert raw_call(sim, "VM.set_name_label", ref, list(raw_call(sim, "VM.get_all", ref)["Value"])[1], "x") == \
        {"Status": "Success", "Value": ""}


def test_rpc2_path_and_list_methods(sim, session):
    res = raw_call(sim, "pool.get_all", session._session, path="/RPC2")
    assert res["Status"] == "Success"
    methods = raw_call(sim, "system.listMethods")        # no Status envelope, as xapi answers it
    assert "VM.start" in methods and "host.call_plugin" in methods


def test_https_with_ca(sim):
    ctx = ssl.create_default_context(cafile=sim.ca)
    proxy = xmlrpc.client.ServerProxy(sim.https, context=ctx)
    res = proxy.session.login_with_password(sim.user, sim.password, "1.0", "t")
    assert res["Status"] == "Success"
    # validate_certs without the CA fails
    with pytest.raises(ssl.SSLError):
        xmlrpc.client.ServerProxy(sim.https, context=ssl.create_default_context()).pool.get_all("x")
    # the SDK with ignore_ssl
    s = XenAPI.Session(sim.https, ignore_ssl=True)
    s.login_with_password(sim.user, sim.password)
    assert s.xenapi.pool.get_all()


def test_jsonrpc(sim):
    def call(method, params, v2=True):
        body = {"method": method, "params": params, "id": 7}
        if v2:
            body["jsonrpc"] = "2.0"
        req = urllib.request.Request(sim.url + "/jsonrpc", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req).read())
    out = call("session.login_with_password", [sim.user, sim.password, "1.0", "t"])
    assert out["jsonrpc"] == "2.0" and out["id"] == 7 and out["result"].startswith("OpaqueRef:")
    s = out["result"]
    assert call("pool.get_all", [s])["result"]
    err = call("session.login_with_password", ["root", "bad"])["error"]
    assert err == {"code": 1, "message": "SESSION_AUTHENTICATION_FAILED", "data": ["root", "Authentication failure"]}
    v1 = call("VM.get_all", [s], v2=False)
    assert v1["error"] is None and v1["result"]


def test_method_unknown_and_count_mismatch(x, session):
    assert failure(x.VM.no_such_thing) == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_thing"]
    assert failure(x.Nope.get_all) == ["MESSAGE_METHOD_UNKNOWN", "Nope.get_all"]
    vm = x.VM.get_all()[0]
    # counts without the session (test_wire_checks.py has the xapi source references)
    assert failure(x.VM.start, vm) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "3", "1"]
    assert failure(x.VM.get_record) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"]
    # getters have no Async form
    assert failure(x.Async.VM.get_record, vm) == ["Fault", "No async mode for this operation (rpc: VM.get_record)"]


def test_handle_and_uuid_invalid(x):
    bad = "OpaqueRef:00000000-0000-0000-0000-000000000000"
    assert failure(x.VM.get_record, bad) == ["HANDLE_INVALID", "VM", bad]
    assert failure(x.VDI.get_virtual_size, "OpaqueRef:NULL") == ["HANDLE_INVALID", "VDI", "OpaqueRef:NULL"]
    assert failure(x.VM.get_by_uuid, "nope") == ["UUID_INVALID", "VM", "nope"]
    host = x.host.get_all()[0]
    # a handle of another class
    assert failure(x.VM.get_record, host) == ["HANDLE_INVALID", "VM", host]


def test_field_type_error(x):
    vm = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    assert failure(x.VM.set_name_label, vm, 5) == ["FIELD_TYPE_ERROR", "value"]
    assert failure(x.VM.set_VCPUs_max, vm, "many") == ["FIELD_TYPE_ERROR", "value"]
    assert failure(x.VM.start, vm, "false", False) == ["FIELD_TYPE_ERROR", "start_paused"]


def test_generic_accessors(x):
    vm = x.VM.get_by_name_label("novaops-helper")[0]
    rec = x.VM.get_record(vm)
    assert x.VM.get_uuid(vm) == rec["uuid"]
    assert x.VM.get_by_uuid(rec["uuid"]) == vm
    x.VM.set_name_description(vm, "hello")
    assert x.VM.get_name_description(vm) == "hello"
    x.VM.add_to_other_config(vm, "k", "v")
    assert x.VM.get_other_config(vm)["k"] == "v"
    uuid = rec["uuid"]
    assert failure(x.VM.add_to_other_config, vm, "k", "w") == ["MAP_DUPLICATE_KEY", "VM", "other_config", uuid, "k"]
    x.VM.remove_from_other_config(vm, "k")
    x.VM.remove_from_other_config(vm, "k")       # removing a missing key is fine
    assert "k" not in x.VM.get_other_config(vm)
    x.VM.add_tags(vm, "blue")
    assert x.VM.get_tags(vm) == ["blue"]
    x.VM.remove_tags(vm, "blue")
    assert x.VM.get_tags(vm) == []
    # RO fields have no setter
    assert failure(x.VM.set_power_state, vm, "Halted") == ["MESSAGE_METHOD_UNKNOWN", "VM.set_power_state"]
    # reverse references
    assert set(rec["VBDs"]) == set(r for r, v in x.VBD.get_all_records().items() if v["VM"] == vm)


def test_get_all_records_where(x):
    res = x.VM.get_all_records_where('field "is_a_template"="true" and field "name_label"="CentOS 7"')
    assert [v["name_label"] for v in res.values()] == ["CentOS 7"]
    res = x.VM.get_all_records_where('field "is_control_domain"="true" or not (field "power_state"="Halted")')
    assert {v["name_label"] for v in res.values()} >= {"novaops-helper"}


def test_inventory(sim, x):
    pool = x.pool.get_all()[0]
    prec = x.pool.get_record(pool)
    host = prec["master"]
    assert x.host.get_record(host)["software_version"]["product_version"].count(".") == 2
    sr = prec["default_SR"]
    srec = x.SR.get_record(sr)
    assert srec["uuid"] == sim.sr_uuid and srec["type"] == "ext" and srec["content_type"] == "user"
    assert srec["physical_size"] == str(64 * 1024 ** 3)
    assert int(srec["physical_utilisation"]) > 0
    pbd = x.PBD.get_record(srec["PBDs"][0])
    assert pbd["device_config"]["path"] == sim.sr_dir()
    nets = {x.network.get_name_label(n): x.network.get_record(n) for n in x.network.get_all()}
    assert nets["Pool-wide network associated with eth0"]["bridge"] == "xenbr0"
    assert "Host internal management network" in nets
    helper = x.VM.get_by_uuid(sim.helper_uuid)
    h = x.VM.get_record(helper)
    assert h["name_label"] == "novaops-helper" and h["power_state"] == "Running" and not h["is_a_template"]
    dom0 = [v for v in x.VM.get_all_records().values() if v["is_control_domain"]]
    assert len(dom0) == 1 and dom0[0]["power_state"] == "Running"
    tpl = x.VM.get_record(x.VM.get_by_name_label("Debian Bookworm 12")[0])
    assert tpl["is_a_template"] and tpl["other_config"]["default_template"] == "true"
    assert "<provision>" in tpl["other_config"]["disks"]
    assert x.VM.get_by_name_label("Other install media")


def test_session_this_host(session, x):
    host = x.session.get_this_host(session._session)
    assert host == x.host.get_all()[0]
    assert x.session.get_this_user(session._session) == "OpaqueRef:NULL"

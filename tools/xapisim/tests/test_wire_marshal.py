"""Values and envelopes on the wire, byte for byte as xapi writes them.  Each test names where
they are defined: xapi's API server (xapi-project/xen-api) and its rpc library
(mirage/ocaml-rpc, ``src/lib/xmlrpc.ml`` and ``src/lib/jsonrpc.ml``)."""

import json
import re
import time
import urllib.request


def post(sim, path, body, ctype):
    req = urllib.request.Request(sim.url + path, data=body.encode(), headers={"Content-Type": ctype})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


def xml_call(sim, method, *params):
    """The raw response body of an XML-RPC call whose string parameters go as <value>s</value>."""
    args = "".join("<param><value>%s</value></param>" % p for p in params)
    return post(sim, "/", '<?xml version="1.0"?><methodCall><methodName>%s</methodName><params>%s</params>'
                          '</methodCall>' % (method, args), "text/xml")


def json_call(sim, method, params, version2, rid=7):
    body = {"method": method, "params": params, "id": rid}
    if version2:
        body["jsonrpc"] = "2.0"
    return json.loads(post(sim, "/jsonrpc", json.dumps(body), "application/json"))


# 7 -------------------------------------------------------------------------------------
def test_strings_go_as_bare_values(sim, x, session):
    """ocaml-rpc src/lib/xmlrpc.ml, ``add_value``: ``String s -> "<value>" ^ encode s ^
    "</value>"`` (no <string> tag; ``encode`` escapes > < & \" and drops control characters
    other than tab, LF and CR); ``Int`` (xapi's int64) is a bare ``<value>n</value>`` too,
    ``Bool`` ``<boolean>1</boolean>``, ``Float`` ``<double>%.16g</double>``; ``string_of_response``
    writes ``<?xml version="1.0"?><methodResponse><params><param>`` with no whitespace.
    xapi serves it from ocaml/xapi/api_server.ml, ``callback`` (``Xmlrpc.string_of_response``)."""
    body = xml_call(sim, "session.login_with_password", sim.user, sim.password)
    m = re.fullmatch(r'<\?xml version="1\.0"\?><methodResponse><params><param><value><struct>'
                     r'<member><name>Status</name><value>Success</value></member>'
                     r'<member><name>Value</name><value>(OpaqueRef:[0-9a-f-]+)</value></member>'
                     r'</struct></value></param></params></methodResponse>', body)
    assert m, body
    ref = m.group(1)
    vm = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    # a control character cannot travel in XML: set it over JSON-RPC
    assert json_call(sim, "VM.set_name_description", [ref, vm, 'a<b&c"d\'e\x01f\tg'], True)["result"] == ""
    body = xml_call(sim, "VM.get_name_description", ref, vm)
    assert "<member><name>Value</name><value>a&lt;b&amp;c&quot;d'ef\tg</value></member>" in body
    assert "<string>" not in body
    x.VM.set_name_description(vm, "")
    assert "<member><name>Value</name><value></value></member>" in xml_call(sim, "VM.get_name_description", ref, vm)
    record = xml_call(sim, "VM.get_record", ref, vm)
    assert "<string>" not in record
    assert "<member><name>VCPUs_max</name><value>1</value></member>" in record
    assert "<member><name>is_a_template</name><value><boolean>1</boolean></value></member>" in record
    assert "<member><name>HVM_shadow_multiplier</name><value><double>1</double></value></member>" in record
    assert "<member><name>snapshot_time</name><value><dateTime.iso8601>19700101T00:00:00Z" \
           "</dateTime.iso8601></value></member>" in record
    # what the SDK makes of it is unchanged: strings, ints as decimal strings
    rec = x.VM.get_record(vm)
    assert rec["VCPUs_max"] == "1" and rec["name_description"] == "" and rec["is_a_template"] is True


def test_task_result_of_a_void_call(x):
    """ocaml/xapi/server_helpers.ml, ``exec_with_context``: an Async task completes with
    ``TaskHelper.complete (Some (marshaller result))``; a void message's marshaller is
    ``(fun _ -> Rpc.String "")`` (ocaml/idl/ocaml_backend/gen_server.ml) and
    ocaml/xapi/taskHelper.ml ``set_result_on_task`` stores ``Xmlrpc.to_string``: ``<value></value>``."""
    tpl = x.VM.get_by_name_label("Debian Bookworm 12")[0]
    vm = x.VM.clone(tpl, "void-result")
    x.VM.provision(vm)
    task = x.Async.VM.start(vm, False, False)
    deadline = time.time() + 20
    while x.task.get_status(task) == "pending" and time.time() < deadline:
        time.sleep(0.05)
    assert x.task.get_status(task) == "success"
    assert x.task.get_result(task) == "<value></value>"
    task = x.Async.VM.clone(tpl, "ref-result")
    while x.task.get_status(task) == "pending" and time.time() < deadline:
        time.sleep(0.05)
    assert re.fullmatch(r"<value>OpaqueRef:[0-9a-f-]+</value>", x.task.get_result(task))


def test_list_methods_without_envelope(sim):
    """ocaml/xapi/api_server.ml, ``callback``: ``if rpc.Rpc.name = "system.listMethods"`` the
    response is ``<methodResponse><params><param>`` + ``Xmlrpc.to_string`` of the contents,
    without the Status/Value struct."""
    body = xml_call(sim, "system.listMethods")
    assert body.startswith('<?xml version="1.0"?><methodResponse><params><param><value><array><data>')
    assert "Status" not in body and "<value>VM.start</value>" in body


# 4 -------------------------------------------------------------------------------------
def test_jsonrpc_errors_by_version(sim):
    """ocaml/xapi/api_server.ml, ``callback1``: only for JSON-RPC 2.0 is a failure translated to
    ``json_of_error_object ~data:(Some data) error_code_lit message`` (api_server_common.ml:
    ``{"code": 1, "message": CODE, "data": [params]}``); a 1.0 failure keeps the contents, the
    plain list.  ocaml-rpc src/lib/jsonrpc.ml, ``json_of_response``: 1.0 is ``{result, error,
    id}`` with the other one null, 2.0 ``{jsonrpc: "2.0", result|error, id}``."""
    bad = ["root", "wrong"]
    v1 = json_call(sim, "session.login_with_password", bad, version2=False)
    assert v1 == {"result": None, "error": ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"],
                  "id": 7}
    v2 = json_call(sim, "session.login_with_password", bad, version2=True)
    assert v2 == {"jsonrpc": "2.0", "error": {"code": 1, "message": "SESSION_AUTHENTICATION_FAILED",
                                              "data": ["root", "Authentication failure"]}, "id": 7}
    ok1 = json_call(sim, "session.login_with_password", [sim.user, sim.password], version2=False, rid="a")
    assert list(ok1) == ["result", "error", "id"] and ok1["error"] is None and ok1["id"] == "a"
    ok2 = json_call(sim, "session.login_with_password", [sim.user, sim.password], version2=True)
    assert list(ok2) == ["jsonrpc", "result", "id"]
    session = ok2["result"]
    v1 = json_call(sim, "VM.get_record", [session], version2=False)
    assert v1["error"] == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"]
    # ints are JSON numbers there (ocaml-rpc ``rpc_to_json``: Int i -> `Intlit)
    host = json_call(sim, "host.get_all", [session], version2=True)["result"][0]
    assert json_call(sim, "host.get_API_version_major", [session, host], version2=True)["result"] == 2

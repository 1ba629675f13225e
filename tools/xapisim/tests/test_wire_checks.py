"""How a call is checked, in xapi's order: method, argument count, argument types, session,
async mode, handles.  Each test names where xen-api defines the behaviour (paths in the
xapi-project/xen-api repository)."""

import xmlrpc.client

from conftest import failure, wait_task

BAD_REF = "OpaqueRef:00000000-0000-0000-0000-0000000000ff"
BAD_SESSION = "OpaqueRef:00000000-0000-0000-0000-00000000beef"


def raw(sim, method, *params):
    """A call exactly as given: no session added by the SDK."""
    return getattr(xmlrpc.client.ServerProxy(sim.url, allow_none=True), method)(*params)


def a_vm(x):
    return x.VM.get_by_name_label("Debian Bookworm 12")[0]


# 1 -------------------------------------------------------------------------------------
def test_count_mismatch_counts_the_arguments_without_the_session(sim, x, session):
    """ocaml/idl/ocaml_backend/gen_server.ml, ``operation``: a call that does not match the
    pattern answers ``Server_helpers.parameter_count_mismatch_failure __call "<number of
    msg_params without a default>" (string_of_int (List.length __params - 1))`` for a message
    with a session (``- 0`` without one); msg_params never include the session."""
    vm = a_vm(x)
    assert failure(x.VM.get_record) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"]
    assert failure(x.VM.start, vm) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "3", "1"]
    assert failure(x.VM.get_record, vm, "extra") == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "2"]
    # not even the session: List.length [] - 1
    assert raw(sim, "pool.get_all")["ErrorDescription"] == \
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "pool.get_all", "0", "-1"]
    # session.login_with_password has no session argument; version and originator have defaults
    assert raw(sim, "session.login_with_password", "root")["ErrorDescription"] == \
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "2", "1"]
    assert raw(sim, "session.login_with_password", sim.user, sim.password)["Status"] == "Success"
    # parameters with defaults match as "at least the required ones" (``a :: b :: default_args``)
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create({"name_label": "count", "name_description": "", "SR": sr, "virtual_size": str(2 << 20),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    assert x.VDI.snapshot(vdi).startswith("OpaqueRef:")
    assert failure(x.VDI.snapshot) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VDI.snapshot", "1", "0"]
    # Async.: the name is reported without its prefix (sync_ty_and_maybe_remove_prefix comes first)
    assert failure(x.Async.VM.start, vm) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "3", "1"]


# 2 -------------------------------------------------------------------------------------
def test_arguments_are_unmarshalled_before_the_session_is_checked(sim, x):
    """gen_server.ml, ``operation``: the generated case is ``unmarshall_code @
    session_check_exp @ rbac_check_begin @ gen_body ()``: a badly typed argument fails even
    with an invalid session, and handles are looked up only by the implementation, after the
    session check."""
    vm = a_vm(x)
    assert raw(sim, "VM.set_name_label", BAD_SESSION, vm, 5)["ErrorDescription"] == ["FIELD_TYPE_ERROR", "value"]
    assert raw(sim, "VM.set_name_label", BAD_SESSION, BAD_REF, "x")["ErrorDescription"] == \
        ["SESSION_INVALID", BAD_SESSION]
    # with a valid session the type error still comes before the handle
    assert failure(x.VM.set_name_label, BAD_REF, 5) == ["FIELD_TYPE_ERROR", "value"]
    assert failure(x.VM.set_name_label, BAD_REF, "x") == ["HANDLE_INVALID", "VM", BAD_REF]


def test_unknown_method_checks_the_session_first(sim, x, session):
    """gen_server.ml, ``gen_module``, the ``| func ->`` case: a name the datamodel does not
    know is tried as a host extension: ``Session_check.check`` on the first argument, then
    ``Server_helpers.forward_extension``, whose ``Xapi_extensions.find_extension`` answers
    MESSAGE_METHOD_UNKNOWN [name]; with no argument at all ``unknown_rpc_failure func``.
    The name is ``__call`` after ``sync_ty_and_maybe_remove_prefix``: no ``Async.``."""
    assert raw(sim, "VM.no_such_thing", BAD_SESSION)["ErrorDescription"] == ["SESSION_INVALID", BAD_SESSION]
    assert raw(sim, "VM.no_such_thing")["ErrorDescription"] == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_thing"]
    assert failure(x.VM.no_such_thing) == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_thing"]
    assert failure(x.Async.VM.no_such_thing) == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_thing"]


# 3 -------------------------------------------------------------------------------------
def test_async_call_looks_handles_up_inside_the_task(x):
    """ocaml/xapi/server_helpers.ml, ``do_dispatch``: an Async call answers the task at once
    (``Rpc.success (API.rpc_of_ref_task ...)``) and runs ``op_fn`` in a new thread, where the
    database lookup of a bad reference raises HANDLE_INVALID, so ``TaskHelper.failed`` records
    it in the task."""
    task = x.Async.VM.clean_shutdown(BAD_REF)
    assert task.startswith("OpaqueRef:")
    rec = wait_task(x, task)
    assert rec["status"] == "failure"
    assert rec["error_info"] == ["HANDLE_INVALID", "VM", BAD_REF]
    x.task.destroy(task)
    # a type error is still the call's own answer (unmarshalling comes before the dispatch)
    assert failure(x.Async.VM.start, a_vm(x), "no", False) == ["FIELD_TYPE_ERROR", "start_paused"]


def test_async_of_a_method_without_an_async_form(sim, x, session):
    """server_helpers.ml, ``do_dispatch``: ``if called_async && not supports_async then
    API.response_of_fault ("No async mode for this operation (rpc: " ^ called_fn_name ^ ")")``;
    ocaml/idl/ocaml_backend/gen_api.ml: ``response_of_fault code = Rpc.failure (rpc_of_failure
    (["Fault"; code]))``.  do_dispatch runs after the session check."""
    vm = a_vm(x)
    assert failure(x.Async.VM.get_record, vm) == \
        ["Fault", "No async mode for this operation (rpc: VM.get_record)"]
    assert failure(x.Async.VM.get_name_label, vm) == \
        ["Fault", "No async mode for this operation (rpc: VM.get_name_label)"]
    assert raw(sim, "Async.VM.get_record", BAD_SESSION, vm)["ErrorDescription"] == ["SESSION_INVALID", BAD_SESSION]

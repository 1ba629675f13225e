"""host.call_plugin behaving as on xapi: success, Failure raised by the plugin, other
exceptions, crashes, garbage output, signals, missing plugins; the plugin gets a working
session back to the simulator and vhd-util on its PATH."""

import json
import os


from xapisim.vhd import create_dynamic

from conftest import failure


def test_echo(x):
    host = x.host.get_all()[0]
    out = x.host.call_plugin(host, "echo", "echo", {"a": "1", "b": "two"})
    assert isinstance(out, str)
    assert json.loads(out) == {"a": "1", "b": "two"}


def test_plugin_session_reaches_simulator(sim, x):
    host = x.host.get_all()[0]
    out = json.loads(x.host.call_plugin(host, "echo", "whoami", {}))
    assert out["host_uuid"] == x.host.get_uuid(host)
    assert out["sr_count"] == len(x.SR.get_all())


def test_vhd_util_on_path(sim, x, tmp_path):
    p = str(tmp_path / "d.vhd")
    create_dynamic(p, 6 * 1024 * 1024).close()
    host = x.host.get_all()[0]
    assert x.host.call_plugin(host, "echo", "vhd_util", {"path": p}) == "6"


def test_missing_plugin_and_function(x):
    host = x.host.get_all()[0]
    assert failure(x.host.call_plugin, host, "nope", "f", {}) == ["XENAPI_MISSING_PLUGIN", "nope"]
    assert failure(x.host.call_plugin, host, "../echo", "echo", {}) == ["XENAPI_MISSING_PLUGIN", "../echo"]
    assert failure(x.host.call_plugin, host, "echo", "nofn", {}) == ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "nofn"]


def test_plugin_failure_and_exception(x):
    host = x.host.get_all()[0]
    assert failure(x.host.call_plugin, host, "raising", "failure", {"why": "because"}) == [
        "CUSTOM_ERROR", "because", "second"]
    assert failure(x.host.call_plugin, host, "raising", "boom", {"why": "x"}) == [
        "XENAPI_PLUGIN_FAILURE", "boom", "ValueError", "boom: x"]


def test_plugin_crash_shapes(x):
    host = x.host.get_all()[0]
    d = failure(x.host.call_plugin, host, "raising", "crash", {})
    assert d == ["XENAPI_PLUGIN_FAILURE", "non-zero exit", "partial output\n", "dying\n"]
    d = failure(x.host.call_plugin, host, "raising", "garbage", {})
    assert d[:2] == ["XENAPI_PLUGIN_FAILURE", "failed to parse plugin output"]
    assert d[2].startswith("this is not xml\n")
    assert len(d) == 4
    d = failure(x.host.call_plugin, host, "raising", "kill", {})
    assert d[:2] == ["XENAPI_PLUGIN_FAILURE", "signal: SIGKILL"]


def test_args_must_be_strings(x):
    host = x.host.get_all()[0]
    assert failure(x.host.call_plugin, host, "echo", "echo", {"n": 1}) == ["FIELD_TYPE_ERROR", "args"]

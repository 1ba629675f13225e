"""host.call_plugin: run a dom0 plugin as a process, exactly as xapi does.

argv[1] is the XML-RPC methodCall ``fn(session_ref, {args})``; stdout must be a
methodResponse holding ``{'Status': 'Success', 'Value': <string>}`` or
``{'Status': 'Failure', 'ErrorDescription': [...]}``.  Error shapes follow xapi's
xapi_plugins.ml: XENAPI_MISSING_PLUGIN [name]; XENAPI_PLUGIN_FAILURE
["non-zero exit" | "signal: SIGx", stdout, stderr], ["failed to parse plugin output",
stdout, error], ["fault", code, reason], ["unexpected XMLRPC result", stdout].

The plugin's environment: PATH starts with tools/xapisim/bin (vhd-util) and a directory whose
``python3`` runs this simulator's own base interpreter with ``-S`` (dom0 starts /usr/bin/python3
directly, with the standard library only: a version manager's shim, a shell script, cost 0.3-0.5 s
per plugin and vhd-util start, and .pth files of this machine's site-packages up to 0.15 s more),
PYTHONPATH starts with tools/xapisim/runtime (XenAPIPlugin, XenAPI) and tools/, bytecode is cached
under the state directory (as dom0 caches its plugins' modules, even where the caller's environment
says PYTHONDONTWRITEBYTECODE; nothing lands in the source tree), and XAPISIM_URL / XAPISIM_* tell
the runtime how to reach this simulator.
"""

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import xmlrpc.client

from .api import Method
from .errors import XenAPIError

PKG = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.join(PKG, "runtime")
BIN = os.path.join(PKG, "bin")
TOOLS = os.path.dirname(PKG)


def find_plugin(sim, name):
    for d in sim.config.plugin_dirs:
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        if name in entries:
            return os.path.join(d, name)
    raise XenAPIError("XENAPI_MISSING_PLUGIN", name)


def _python_dir(sim):
    """<state_dir>/python-bin, holding ``python3``: a script that runs the interpreter this simulator
    runs on (its real file, so no virtualenv's packages) with ``-S`` (no site-packages and no .pth
    start-up code: dom0 has the standard library only)."""
    path = os.path.join(sim.config.state_dir, "python-bin")
    script = os.path.join(path, "python3")
    text = '#!/bin/sh\nexec %s -S "$@"\n' % shlex.quote(os.path.realpath(sys.executable))
    try:
        if not os.path.islink(script):              # older versions made a link to the interpreter
            with open(script, "rb") as handle:
                if handle.read() == text.encode():
                    return path
    except OSError:
        pass
    os.makedirs(path, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path, prefix=".python3-")   # a whole script or none, for concurrent calls
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, script)                                    # also over the link older versions made
    return path


def plugin_env(sim):
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([BIN, _python_dir(sim), env.get("PATH", "/usr/bin:/bin")])
    pp = [RUNTIME, TOOLS] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(pp)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(sim.config.state_dir, "pycache")
    st = sim.store
    with st.lock:
        pool = next(iter(st.objs["pool"].values()), None)
        sr_uuid = st.get("SR", pool["default_SR"])["uuid"] if pool and pool["default_SR"] in st.objs["SR"] else ""
    env.update({
        "XAPISIM_URL": sim.config.http_url,
        "XAPISIM_NAME": sim.config.name,
        "XAPISIM_STATE_DIR": sim.config.state_dir,
        "XAPISIM_SR_ROOT": os.path.join(sim.config.state_dir, "sr"),
        "XAPISIM_DEFAULT_SR_UUID": sr_uuid,
        "XAPISIM_DEFAULT_SR_PATH": sim.sr_dir(sr_uuid) if sr_uuid else "",
        "XAPISIM_DEVICE_DIR": sim.config.device_dir,
        "XAPISIM_HOST_UUID": sim.identity["host"],
        "XAPISIM_HELPER_VM_UUID": sim.helper_uuid(),
    })
    return env


def _signame(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return str(n)


def call_plugin(sim, session, plugin, fn, args):
    path = find_plugin(sim, plugin)
    call = xmlrpc.client.dumps((session, {str(k): str(v) for k, v in args.items()}), fn)
    try:
        proc = subprocess.run([path, call], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=plugin_env(sim), cwd="/", stdin=subprocess.DEVNULL)
    except OSError as e:
        raise XenAPIError("XENAPI_PLUGIN_FAILURE", "non-zero exit", "", str(e))
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode < 0:
        raise XenAPIError("XENAPI_PLUGIN_FAILURE", "signal: %s" % _signame(-proc.returncode), out, err)
    if proc.returncode != 0:
        raise XenAPIError("XENAPI_PLUGIN_FAILURE", "non-zero exit", out, err)
    try:
        params, _ = xmlrpc.client.loads(out)
    except xmlrpc.client.Fault as f:
        raise XenAPIError("XENAPI_PLUGIN_FAILURE", "fault", str(f.faultCode), f.faultString)
    except Exception as e:      # noqa: BLE001 - any parse error
        raise XenAPIError("XENAPI_PLUGIN_FAILURE", "failed to parse plugin output", out, str(e))
    res = params[0] if len(params) == 1 else None
    if not isinstance(res, dict) or "Status" not in res:
        raise XenAPIError("XENAPI_PLUGIN_FAILURE", "unexpected XMLRPC result", out)
    if res["Status"] == "Success" and "Value" in res:
        value = res["Value"]
        if not isinstance(value, str):
            raise XenAPIError("INTERNAL_ERROR", "plugin %s.%s returned a non-string value" % (plugin, fn))
        return value
    if res["Status"] == "Failure" and isinstance(res.get("ErrorDescription"), list) and res["ErrorDescription"]:
        raise XenAPIError(*[str(x) for x in res["ErrorDescription"]])
    raise XenAPIError("XENAPI_PLUGIN_FAILURE", "unexpected XMLRPC result", out)


def register(reg, sim):
    reg["host.call_plugin"] = Method(
        "host.call_plugin",
        lambda ctx, host, plugin, fn, args: call_plugin(sim, ctx.session, plugin, fn, args),
        [("host", "ref:host"), ("plugin", "s"), ("fn", "s"), ("args", "map:s")],
        locked=False)

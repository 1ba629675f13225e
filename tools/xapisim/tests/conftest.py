"""Fixtures: one xapisim server per test session, started as a subprocess on free ports
(HTTP and HTTPS, with a CA made by ``make-ca``), reached only through the XenAPI SDK and
plain HTTP for /sim."""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

TOOLS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)      # the tests read VHD files back with xapisim.vhd


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimInfo:
    def __init__(self, proc, facts, state_dir, ca, password):
        self.proc = proc
        self.facts = facts
        self.url = facts["http"]
        self.https = facts["https"]
        self.helper_uuid = facts["helper_vm"]
        self.sr_uuid = facts["sr"]
        self.state_dir = state_dir
        self.device_dir = facts["device_dir"]
        self.ca = ca
        self.user = "root"
        self.password = password

    def sim(self, name, *args):
        req = urllib.request.Request(self.url + "/sim/" + name, data=json.dumps(list(args)).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            out = json.loads(r.read())
        if out["Status"] != "Success":
            raise RuntimeError(out["ErrorDescription"])
        return out["Value"]

    def sr_dir(self, sr_uuid=None):
        return os.path.join(self.state_dir, "sr", sr_uuid or self.sr_uuid)


def start_server(tmp, name="pool-t", extra=()):
    env = dict(os.environ, PYTHONPATH=TOOLS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ca = os.path.join(tmp, "ca")
    subprocess.run([sys.executable, "-m", "xapisim", "make-ca", "--dir", ca, "--host", "127.0.0.1"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    state = os.path.join(tmp, "state-" + name)
    port, sport = free_port(), free_port()
    cmd = [sys.executable, "-m", "xapisim", "serve", "--name", name, "--port", str(port),
           "--https-port", str(sport), "--cert", os.path.join(ca, "server.pem"),
           "--key", os.path.join(ca, "server.key"), "--state-dir", state, "--password", "s3cret",
           "--plugin-dir", os.path.join(HERE, "plugins"), "--gc-delay", "0.3", "--sr-size-gib", "64",
           "--shutdown-timeout", "0.5"] + list(extra)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise RuntimeError("xapisim did not start: %r %s" % (line, proc.stderr.read()))
    with open(os.path.join(state, "ready.json")) as fh:
        facts = json.load(fh)
    return SimInfo(proc, facts, state, os.path.join(ca, "ca.pem"), "s3cret"), cmd, env


def stop_server(info):
    info.proc.send_signal(signal.SIGTERM)
    try:
        info.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        info.proc.kill()


def plugin_pool_fixtures(name):
    """Fixtures ``pool`` (a private pool, per test module, running the repository's dom0 plugins)
    and ``x`` (a session on it, the pool reset first), for a module to bind:
    ``pool, x = plugin_pool_fixtures("pool-glance")``."""
    from xapisim.testkit import PLUGINS

    @pytest.fixture(scope="module", name="pool")
    def pool_fixture(tmp_path_factory):
        info, _, _ = start_server(str(tmp_path_factory.mktemp(name)), name=name, extra=("--plugin-dir", PLUGINS))
        yield info
        stop_server(info)

    @pytest.fixture(name="x")
    def x_fixture(pool):
        import XenAPI
        pool.sim("reset")
        s = XenAPI.Session(pool.url)
        s.login_with_password(pool.user, pool.password, "1.0", name + "-tests")
        yield s.xenapi
        s.xenapi.session.logout()

    return pool_fixture, x_fixture


def plugin_call(x, plugin, fn, **args):
    """host.call_plugin on the pool's host, arguments as strings, the JSON result decoded."""
    host = x.host.get_all()[0]
    return json.loads(x.host.call_plugin(host, plugin, fn, {k: str(v) for k, v in args.items()}))


def failure(fn, *args):
    """The Failure details of a XenAPI call that must fail."""
    import XenAPI
    with pytest.raises(XenAPI.Failure) as ei:
        fn(*args)
    return ei.value.details


def plugin_failure(x, plugin, fn, **args):
    """The Failure details of a plugin call that must fail."""
    return failure(lambda: plugin_call(x, plugin, fn, **args))


@pytest.fixture(scope="session")
def simserver(tmp_path_factory):
    info, _, _ = start_server(str(tmp_path_factory.mktemp("xapisim")))
    yield info
    stop_server(info)


@pytest.fixture
def sim(simserver):
    """A freshly reset pool."""
    simserver.sim("reset")
    return simserver


@pytest.fixture
def session(sim):
    import XenAPI
    s = XenAPI.Session(sim.url)
    s.login_with_password(sim.user, sim.password, "1.0", "xapisim-tests")
    yield s
    try:
        s.xenapi.session.logout()
    except Exception:
        pass


@pytest.fixture
def x(session):
    return session.xenapi


def wait_task(x, task, timeout=30):
    """The record of an async task once it is no longer pending."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rec = x.task.get_record(task)
        if rec["status"] not in ("pending", "cancelling"):
            return rec
        time.sleep(0.05)
    raise AssertionError("task still pending")


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A fake HTTP service's handler: no request log, ``_answer`` a whole response."""

    def log_message(self, *a):
        pass

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def collection_tree(tmp_path_factory):
    """A path holding ansible_collections/novaops/compute -> this checkout."""
    root = tmp_path_factory.mktemp("coll")
    (root / "ansible_collections" / "novaops").mkdir(parents=True)
    os.symlink(REPO, str(root / "ansible_collections" / "novaops" / "compute"))
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return str(root)

"""What the tests, benches and integration helpers share to drive simulator pools from outside.

Everything here goes through the official XenAPI SDK and the beds' published addresses
(``.beds/env.sh``), as a user's client would: the beds' environment, a login to pool a or b,
a VDI's chain as the pool records it (``sm_config['vhd-parent']`` from the leaf up), a chain
with data in two layers, a chain over a base copy full of data, a deterministic byte pattern, the ssh arguments of the
migration plugin for the beds' sshd, the ``/sim`` fault API over plain HTTP, a private simulator of
one's own, the no-auth Glance bed's API (as a bench's admin), and the play of the third-party client
community.general.xenserver_guest that a test and a bench run against the simulator.  No simulator internals: the wire knows nothing of this.
"""

import hashlib
import json
import os
import shlex
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
import xmlrpc.client

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(REPO, "files", "xapi.d", "plugins")
MiB = 1 << 20


def beds_env(required="XENAPI_POOL_A_URL"):
    """The variables of ``.beds/env.sh`` with the process environment over them.

    Raises LookupError naming ``make beds`` when ``required`` is in neither.
    """
    env = {}
    path = os.path.join(REPO, ".beds", "env.sh")
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                if line.startswith("export ") and "=" in line:
                    key, _, value = line[len("export "):].strip().partition("=")
                    env[key] = shlex.split(value)[0] if value else ""
    env.update(os.environ)
    if required and not env.get(required):
        raise LookupError("no beds (%s is unset): run `make beds` first" % required)
    return env


def beds_env_or_exit(required="XENAPI_POOL_A_URL"):
    """beds_env() for a program (a bench): without the beds it exits, saying to run `make beds`."""
    try:
        return beds_env(required)
    except LookupError as exc:
        sys.exit(str(exc))


# what the no-auth Glance bed takes as a caller's identity (its paste pipeline trusts these headers)
GLANCE_HEADERS = {"X-Roles": "admin", "X-Tenant-Id": "novaops-bench"}


def glance(env, method, path, body=None):
    """One call to the Glance bed's v2 API: the decoded JSON answer, or None for an empty one."""
    req = urllib.request.Request(env["NOVAOPS_GLANCE_URL"] + path, method=method, headers=dict(GLANCE_HEADERS))
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as resp:
        data = resp.read()
    return json.loads(data) if data else None


def login(pool, env=None, originator="novaops-testkit"):
    """An SDK session on pool ``A`` or ``B`` of the beds, over HTTPS checked against the beds' CA."""
    import XenAPI
    env = env or beds_env()
    context = ssl.create_default_context(cafile=env["XENAPI_CA_PATH"])
    session = XenAPI.Session(env["XENAPI_POOL_%s_URL" % pool], transport=xmlrpc.client.SafeTransport(context=context))
    session.login_with_password(env["XENAPI_POOL_%s_USERNAME" % pool], env["XENAPI_POOL_%s_PASSWORD" % pool],
                                "1.0", originator)
    return session


def sim_call(http_url, name, *args, timeout=60):
    """``POST <http_url>/sim/<name>`` with the arguments as JSON: the fault API without a session.

    Returns the Value; a Failure answer raises RuntimeError with its ErrorDescription.
    """
    request = urllib.request.Request(http_url.rstrip("/") + "/sim/" + name, data=json.dumps(list(args)).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        out = json.loads(answer.read())
    if out["Status"] != "Success":
        raise RuntimeError(out["ErrorDescription"])
    return out["Value"]


class PrivateSimulator:
    """A simulator of one's own on a free loopback port, from this tools tree (state in <root>/xapisim,
    its log <root>/xapisim.log): for a test that expires sessions, injects faults or stops it without
    disturbing the shared pools.  ``facts`` are its ready.json (helper_vm, device_dir, sr, ...)."""

    def __init__(self, root, name):
        self.password = uuid.uuid4().hex
        state = os.path.join(root, "xapisim")
        tools = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.log = open(os.path.join(root, "xapisim.log"), "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "xapisim", "serve", "--name", name, "--host", "127.0.0.1",
                                      "--port", "0", "--state-dir", state, "--password", self.password],
                                     env=dict(os.environ, PYTHONPATH=tools), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        ready = os.path.join(state, "ready.json")
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the private simulator did not start (see %s)" % self.log.name)
            time.sleep(0.1)
        with open(ready) as handle:
            self.facts = json.load(handle)
        self.url = self.facts["http"]
        self.env = dict(XENAPI_URL=self.url, XENAPI_USERNAME="root", XENAPI_PASSWORD=self.password)

    def sim(self, name, *args):
        return sim_call(self.url, name, *args)

    def stop(self, timeout=60):
        self.proc.terminate()
        self.proc.wait(timeout)
        self.log.close()


def pool_chain(x, vdi_uuid):
    """The VDI's chain as the pool records it, leaf first."""
    chain = [vdi_uuid]
    while True:
        parent = x.VDI.get_sm_config(x.VDI.get_by_uuid(chain[-1])).get("vhd-parent")
        if not parent:
            return chain
        chain.append(parent)


def file_sha256(path):
    """The sha256 of a file's bytes, read in 4 MiB pieces: hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for piece in iter(lambda: fh.read(4 * MiB), b""):
            h.update(piece)
    return h.hexdigest()


def pattern(seed, n):
    """n bytes that differ from seed to seed (and from zeros)."""
    return bytes((seed * 31 + i * 7) % 251 for i in range(n))


def layered_chain(x, sr_dir, size=8 * MiB, name="disk"):
    """A snapshot whose chain holds data in two layers: ``(snapshot ref, chain leaf first, its bytes)``.

    Written straight into the SR's VHD files; stall the pool's GC first to keep the chain as built.
    """
    from xapisim.vhd import VHD
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create({"name_label": name, "name_description": "", "SR": sr, "virtual_size": str(size),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    path = os.path.join(sr_dir, x.VDI.get_uuid(vdi) + ".vhd")
    with VHD.open(path, writable=True) as v:
        v.write(0, pattern(1, 3 * MiB))
    x.VDI.snapshot(vdi, {})
    with VHD.open(path, writable=True) as v:
        v.write(MiB, pattern(2, 5000))
    snap = x.VDI.snapshot(vdi, {})
    chain = pool_chain(x, x.VDI.get_uuid(snap))
    with VHD.open(os.path.join(sr_dir, chain[0] + ".vhd")) as v:
        data = v.read(0, size)
    return snap, chain, data


def filled_chain(x, env, pool, name, size, made):
    """A snapshot over a base copy holding ``size`` bytes of random data, in the SR of the beds' pool ``A`` or
    ``B`` (x a session on it): the chain, leaf first (a small leaf over the full base, until the GC coalesces).

    Each VDI it makes goes into ``made`` at once, the snapshot first, for the caller to destroy.
    """
    from xapisim.vhd import VHD
    sr = x.SR.get_by_uuid(env["XENAPI_POOL_%s_SR_UUID" % pool])
    sr_dir = env["XENAPI_POOL_%s_SR_DIR" % pool]
    vdi = x.VDI.create({"name_label": name, "name_description": "", "SR": sr, "virtual_size": str(size + 64 * MiB),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {}})
    made.append(vdi)
    block = os.urandom(2 * MiB)
    with VHD.open(os.path.join(sr_dir, x.VDI.get_uuid(vdi) + ".vhd"), writable=True) as v:
        for off in range(0, size, 2 * MiB):
            v.write(off, block)
    snap = x.VDI.snapshot(vdi, {})
    made.insert(0, snap)
    return pool_chain(x, x.VDI.get_uuid(snap))


def clean_up(env, x, images=(), vdis=(), files=()):
    """Best effort, whatever a bench left: the Glance bed's images, the pool's VDIs, local files."""
    for image in images:
        try:
            glance(env, "DELETE", "/v2/images/%s" % image)
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass
    for vdi in vdis:
        try:
            x.VDI.destroy(vdi)
        except Exception:  # noqa: BLE001
            pass
    for path in files:
        if path and os.path.exists(path):
            os.unlink(path)


def xenserver_guest_play(vm, disks, result):
    """A playbook: community.general.xenserver_guest makes the VM named ``vm`` from the simulator's Debian
    template (2 vCPUs, 512 MiB, ``disks`` - a YAML flow list of its disk dicts - and a VIF on the pool-wide
    network) and powers it on; its result goes to the file ``result`` as JSON.  Extra vars: url, password."""
    return textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - community.general.xenserver_guest:
                hostname: "{{ url }}"
                username: root
                password: "{{ password }}"
                validate_certs: false
                name: "%(vm)s"
                template: "Debian Bookworm 12"
                state: poweredon
                hardware: {num_cpus: 2, memory_mb: 512}
                disks: %(disks)s
                networks: [{name: "Pool-wide network associated with eth0"}]
              register: guest
            - ansible.builtin.copy: {content: "{{ guest | to_json }}", dest: "%(result)s"}
        """) % dict(vm=vm, disks=disks, result=result)


def ssh_args(env=None):
    """The migration plugin's ssh arguments for the beds' sshd (key and known_hosts by content)."""
    env = env or beds_env("NOVAOPS_SSH_KEY")
    with open(env["NOVAOPS_SSH_KEY"]) as fh:
        key = fh.read()
    with open(env["NOVAOPS_SSH_KNOWN_HOSTS"]) as fh:
        known = fh.read()
    return dict(host=env["NOVAOPS_SSH_HOST"], port=env["NOVAOPS_SSH_PORT"], user=env["NOVAOPS_SSH_USER"],
                ssh_private_key=key, ssh_known_hosts=known)

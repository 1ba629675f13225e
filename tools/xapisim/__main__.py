"""python -m xapisim serve|make-ca ...

serve: run one simulated pool in the foreground.  When it listens it prints one line
``xapisim <name> ready <http-url> <https-url|-> helper-vm <uuid> sr <uuid>`` and writes
<state-dir>/ready.json.  SIGTERM/SIGINT stop it cleanly (state written, nothing unplugged).

make-ca: a self-signed CA and a server certificate for --host (and localhost) made with
the openssl command line, in --dir: ca.pem ca.key server.pem server.key.
"""

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading


def cmd_serve(a):
    from .sim import Config, Sim
    from .wire import make_servers, serve
    cfg = Config(name=a.name, host=a.host, port=a.port, https_port=a.https_port, cert=a.cert, key=a.key,
                 state_dir=a.state_dir, user=a.user, password=a.password,
                 plugin_dirs=a.plugin_dir or [], device_dir=a.device_dir,
                 sr_size=int(a.sr_size_gib * 1024 ** 3), gc_delay=a.gc_delay,
                 session_timeout=a.session_timeout, shutdown_timeout=a.shutdown_timeout,
                 hosts=a.hosts, dom0_ovs=a.dom0_ovs)
    if a.https_port is not None and not (a.cert and a.key):
        sys.exit("--https-port needs --cert and --key")
    sim = Sim(cfg)
    servers = make_servers(sim, cfg.host, cfg.port, cfg.https_port, cfg.cert, cfg.key)
    if cfg.port == 0:
        cfg.port = servers[0].server_address[1]
    if cfg.https_port == 0:
        cfg.https_port = servers[1].server_address[1]
    sim.start()
    serve(servers)
    facts = sim.ready_facts()
    path = os.path.join(cfg.state_dir, "ready.json")
    with open(path + ".tmp", "w") as fh:
        json.dump(facts, fh, indent=1)
    os.replace(path + ".tmp", path)
    print("xapisim %s ready %s %s helper-vm %s sr %s" % (cfg.name, cfg.http_url, cfg.https_url or "-",
                                                       facts["helper_vm"], facts["sr"]), flush=True)
    done = threading.Event()

    def stop(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not done.wait(1.0):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()
    sim.stop()
    try:
        os.unlink(path)
    except OSError:
        pass
    return 0


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def cmd_make_ca(a):
    d = os.path.abspath(a.dir)
    os.makedirs(d, exist_ok=True)
    names = ["ca.pem", "ca.key", "server.pem", "server.key"]
    if all(os.path.exists(os.path.join(d, n)) for n in names) and not a.force:
        print(d)
        return 0
    host = a.host
    ip = all(p.isdigit() for p in host.split(".")) and host.count(".") == 3
    san = ["IP:%s" % host if ip else "DNS:%s" % host, "DNS:localhost", "IP:127.0.0.1"]
    san = ",".join(dict.fromkeys(san))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
             "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=xapisim test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=%s" % host, cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as fh:
        fh.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                 "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % san)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "3650", "-sha256", "-extfile", "server.ext", cwd=d)
    for n in ("server.csr", "server.ext", "ca.srl"):
        try:
            os.unlink(os.path.join(d, n))
        except OSError:
            pass
    os.chmod(os.path.join(d, "ca.key"), 0o600)
    os.chmod(os.path.join(d, "server.key"), 0o600)
    print(d)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m xapisim")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run a simulated pool in the foreground")
    s.add_argument("--name", default="pool-a")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8181, help="HTTP port (0: any free port)")
    s.add_argument("--https-port", type=int, default=None)
    s.add_argument("--cert")
    s.add_argument("--key")
    s.add_argument("--state-dir", required=True)
    s.add_argument("--user", default="root")
    s.add_argument("--password", default="password")
    s.add_argument("--plugin-dir", action="append", help="repeatable; default <repo>/files/xapi.d/plugins")
    s.add_argument("--device-dir", help="raw files of VDIs plugged into the helper VM (default <state-dir>/dev)")
    s.add_argument("--sr-size-gib", type=float, default=64.0, help="physical_size of the local SR")
    s.add_argument("--gc-delay", type=float, default=2.0, help="seconds before the GC coalesces a candidate")
    s.add_argument("--session-timeout", type=float, default=24 * 3600.0, help="idle seconds before a session expires")
    s.add_argument("--shutdown-timeout", type=float, default=1.0,
                   help="seconds clean_shutdown waits for a guest that ignores it")
    s.add_argument("--hosts", type=int, default=1, help="hosts in the pool, sharing its SR (default 1)")
    s.add_argument("--dom0-ovs", action="store_true",
                   help="running VMs' VIFs as ports vif<domid>.<device> on this machine's Open vSwitch, "
                        "on their networks' bridges where these exist (as dom0's vif script)")
    s.add_argument("--log-level", default="WARNING")
    s.set_defaults(fn=cmd_serve)
    c = sub.add_parser("make-ca", help="self-signed CA and server certificate via openssl")
    c.add_argument("--dir", required=True)
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--force", action="store_true")
    c.add_argument("--log-level", default="WARNING")
    c.set_defaults(fn=cmd_make_ca)
    a = p.parse_args(argv)
    logging.basicConfig(level=getattr(logging, a.log_level.upper(), logging.WARNING),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())

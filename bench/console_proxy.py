#!/usr/bin/env python3
"""50 concurrent console sessions through the console proxy against direct RFB connections.

Five transient TCG domains on the libvirt bed boot a disk that prints a line and halts (the
console_links target's disk); 50 sessions (ten a domain) connect at once, each timed from the
connection's opening (TCP for direct RFB, the WebSocket for the proxy) to the end of its first
full framebuffer update.  Direct RFB to QEMU's VNC ports is the peer, in the same run,
alternating, two rounds each.  Prints connect time p50 and p95 of both, the proxy's CPU seconds
(from /proc, for the proxy rounds), sessions dropped (a session not done in 30 s), and
``RATIO console connect p50|p95: <proxy/direct>``.  Needs the beds (the libvirt bed and the
console_proxy bed: ``.beds/env.sh``'s NOVAOPS_CONSOLE_PROXY_URL and NOVAOPS_CONSOLE_KEY).
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qs, urlsplit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
from xapisim.rfb_client import Client, settled_screen  # noqa: E402
from xapisim.testkit import beds_env  # noqa: E402
from xapisim.ws_client import Socket, WebSocket  # noqa: E402

DOMAINS = 5
SESSIONS = 50
ROUNDS = 2
BOOT_DISK = os.path.join(REPO, "tests", "integration", "targets", "console_links", "files", "boot_disk.py")
URI = "qemu:///system"


def collection_tree(tmp):
    root = os.path.join(tmp, "coll")
    os.makedirs(os.path.join(root, "ansible_collections", "novaops"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "novaops", "compute"))
    sys.path.insert(0, root)


def domain_xml(name, disk):
    return """<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>
<target dev='vda' bus='virtio'/><readonly/></disk>
<graphics type='vnc' autoport='yes' listen='127.0.0.1'/><video><model type='vga'/></video></devices>
</domain>""" % (name, disk)


def proxy_pid(env):
    with open(os.path.join(env["NOVAOPS_BEDS_DIR"], "console_proxy", "owned.json")) as fh:
        return json.load(fh)[0]["pid"]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_session(opener, out, errors, start):
    start.wait()
    began = time.monotonic()
    try:
        sock = opener()
        client = Client(sock).handshake()
        client.screen()
        out.append(time.monotonic() - began)
        close = getattr(sock, "ws", sock)
        close.close()
    except Exception as exc:   # noqa: BLE001 - a dropped session is counted, not fatal
        errors.append("%s: %s" % (type(exc).__name__, exc))


def run_round(openers):
    out, errors, start = [], [], threading.Event()
    threads = [threading.Thread(target=one_session, args=(o, out, errors, start)) for o in openers]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(120)
    return out, errors


def settled(target):
    """Wait until the domain's guest printed its line and halted."""
    client = Client(socket.create_connection((target["host"], target["port"]), timeout=30)).handshake()
    settled_screen(client, timeout=120)
    client.sock.close()


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def main():
    env = beds_env("NOVAOPS_CONSOLE_PROXY_URL")
    os.environ.update(env)
    tmp = tempfile.mkdtemp(prefix="bench-console-")
    collection_tree(tmp)
    from ansible_collections.novaops.compute.plugins.module_utils.common.console_link import issue_link
    from ansible_collections.novaops.compute.plugins.module_utils.libvirt.console_target import console_target
    import libvirt
    inst = env.get("NOVAOPS_INSTANCES_DIR", tmp)
    os.makedirs(inst, exist_ok=True)
    disk = os.path.join(inst, "bench-console-%s.raw" % secrets.token_hex(3))
    subprocess.run([sys.executable, BOOT_DISK, disk], check=True)
    os.chmod(disk, 0o644)
    conn = libvirt.open(URI)
    doms = []
    try:
        for i in range(DOMAINS):
            doms.append(conn.createXML(domain_xml("bench-cn-%s-%d" % (secrets.token_hex(3), i), disk), 0))
        targets = [console_target(d, URI) for d in doms]
        for _instance, target in targets:
            settled(target)             # each guest printed its line and halted before anything is timed
        proxy = urlsplit(env["NOVAOPS_CONSOLE_PROXY_URL"])
        origin = "%s://%s" % (proxy.scheme, proxy.netloc)
        params = dict(proxy_url=env["NOVAOPS_CONSOLE_PROXY_URL"], token_key=env["NOVAOPS_CONSOLE_KEY"], ttl=600,
                      page="vnc_lite.html")
        pid = proxy_pid(env)
        results = {"direct": ([], []), "proxy": ([], [])}
        cpu = 0.0
        for _round in range(ROUNDS):
            direct = [(lambda t=targets[i % DOMAINS][1]: socket.create_connection((t["host"], t["port"]), timeout=30))
                      for i in range(SESSIONS)]
            times, errors = run_round(direct)
            results["direct"][0].extend(times)
            results["direct"][1].extend(errors)
            links = [issue_link(params, "libvirt", *targets[i % DOMAINS], now=time.time(), check_mode=False)["url"]
                     for i in range(SESSIONS)]
            paths = ["/" + parse_qs(urlsplit(u).query)["path"][0] for u in links]
            proxied = [(lambda p=p: Socket(WebSocket(proxy.hostname, proxy.port, p, origin=origin, timeout=30)))
                       for p in paths]
            before = cpu_seconds(pid)
            times, errors = run_round(proxied)
            cpu += cpu_seconds(pid) - before
            results["proxy"][0].extend(times)
            results["proxy"][1].extend(errors)
        for kind in ("direct", "proxy"):
            times, errors = results[kind]
            print("%-6s sessions %d ok, %d dropped; connect p50 %.3fs p95 %.3fs%s" % (
                kind, len(times), len(errors), pct(times, 50) if times else -1, pct(times, 95) if times else -1,
                (" (first error: %s)" % errors[0]) if errors else ""))
        print("proxy CPU: %.2fs for %d sessions (%.1f ms a session)" % (cpu, SESSIONS * ROUNDS,
                                                                         1000 * cpu / (SESSIONS * ROUNDS)))
        d, p = results["direct"][0], results["proxy"][0]
        if d and p:
            print("RATIO console connect p50: %.2f (proxy %.3fs / direct %.3fs, %d sessions at once)"
                  % (pct(p, 50) / pct(d, 50), pct(p, 50), pct(d, 50), SESSIONS))
            print("RATIO console connect p95: %.2f (proxy %.3fs / direct %.3fs; target 2.0; dropped %d)"
                  % (pct(p, 95) / pct(d, 95), pct(p, 95), pct(d, 95), len(results["proxy"][1])))
        return 1 if results["proxy"][1] else 0        # the target: no proxied session dropped
    finally:
        for d in doms:
            try:
                d.destroy()
            except libvirt.libvirtError:
                pass
        conn.close()
        os.unlink(disk)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

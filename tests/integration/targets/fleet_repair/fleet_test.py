# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet repair end to end on the beds, as AWX runs it (run by runme.sh).

20 libvirt domains on two "hypervisors" (qemu:///system and qemu+ssh to the sshd bed, the same
libvirtd: each URI includes half of the names) and 10 VMs on the simulator's pools A and B; a
random third broken in the four ways, three more halted under an operation lock.  Then:
ansible-inventory --graph and --list (twice: the same groups), the inventory through
ansible-runner, a bad-input corpus for both plugins, ansible-runner run of fleet_repair.yml
(clean job events, every instance found repaired and seen so from outside, the report listing
exactly the broken ones and the busy ones as skipped), and a second run that finds nothing.
"""

from __future__ import annotations

import glob
import json
import os
import random
import subprocess
import sys
import time

import ansible_runner

from fleet_lib import Fleet, random_tag

HERE = os.path.dirname(os.path.abspath(__file__))
FAILURES = []


def check(condition, what):
    print("%s %s" % ("ok  " if condition else "FAIL", what), flush=True)
    if not condition:
        FAILURES.append(what)


def collection_root():
    # tests/integration/targets/fleet_repair -> the collection root (or ansible-test's copy of it)
    for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        candidate = os.path.join(path, "ansible_collections", "novaops", "compute")
        if os.path.isfile(os.path.join(candidate, "playbooks", "fleet_repair.yml")):
            return candidate
    return os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))


def inventory_files(fleet, directory):
    env = fleet.env
    ssh_uri = "qemu+ssh://%s@%s:%s/system?keyfile=%s&no_verify=1" % (
        env["NOVAOPS_SSH_USER"], env["NOVAOPS_SSH_HOST"], env["NOVAOPS_SSH_PORT"], env["NOVAOPS_SSH_KEY"])
    libvirt_cfg = dict(
        plugin="novaops.compute.libvirt",
        uris=[dict(uri="qemu:///system", name="hv1", include=["%s-a*" % fleet.tag]),
              dict(uri=ssh_uri, name="hv2", include=["%s-b*" % fleet.tag])],
        include=["%s-*" % fleet.tag],
        keyed_groups=[dict(key="novaops_hypervisor", prefix="hv")],
        compose=dict(ansible_python_interpreter=repr(sys.executable)),
        groups=dict(fleet_small="novaops_disks | length == 1"))
    xen_cfg = dict(
        plugin="novaops.compute.xenapi",
        pools=[dict(url=env["XENAPI_POOL_A_URL"], name="pool-a"),
               dict(url=env["XENAPI_POOL_B_URL"], name="pool-b", password_env="XENAPI_POOL_B_PASSWORD")],
        include=["%s-*" % fleet.tag],
        keyed_groups=[dict(key="novaops_xenapi_pool", prefix="pool")])
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, cfg in (("fleet.novaops_libvirt.yml", libvirt_cfg), ("pools.novaops_xenapi.yml", xen_cfg)):
        path = os.path.join(directory, name)
        with open(path, "w") as handle:
            json.dump(cfg, handle, indent=1)     # JSON is YAML
        paths.append(path)
    return paths


def ansible_inventory(paths, *args, env=None):
    argv = ["ansible-inventory"]
    for path in paths:
        argv += ["-i", path]
    return subprocess.run(argv + list(args), capture_output=True, text=True, env=env, check=False)


def plain(value):
    """A value of ansible-inventory --list without 2.19's {'__ansible_unsafe': ...} marks."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def groups_of(listing):
    data = json.loads(listing)
    return dict((group, sorted(body.get("hosts", []))) for group, body in data.items() if group != "_meta")


def inventory_checks(fleet, paths):
    graph = ansible_inventory(paths, "--graph")
    check(graph.returncode == 0 and "@needs_repair:" in graph.stdout, "ansible-inventory --graph passes")
    check("[WARNING]" not in graph.stderr, "ansible-inventory --graph without warnings (%s)" % graph.stderr.strip()[:300])
    first, second = ansible_inventory(paths, "--list"), ansible_inventory(paths, "--list")
    groups = groups_of(first.stdout)
    check(groups == groups_of(second.stdout), "two reads give the same groups")
    expected_broken = sorted(fleet.broken)
    check(groups.get("needs_repair") == expected_broken,
          "needs_repair is exactly the broken set: %s" % groups.get("needs_repair"))
    check(groups.get("busy") == sorted(fleet.busy), "busy is exactly the locked set: %s" % groups.get("busy"))
    check(len(groups.get("hv_hv1", [])) == len(groups.get("hv_hv2", [])) == len(fleet.libvirt_names) // 2,
          "both hypervisor URIs (local and qemu+ssh) read")
    check(len(groups.get("pool_pool_a", [])) + len(groups.get("pool_pool_b", [])) == len(fleet.xen_names),
          "both pools read")
    check(set(groups.get("crashed", [])) == set(n for n, k in fleet.broken.items() if k == "killed"),
          "a killed QEMU is in crashed")
    check(len(groups.get("fleet_small", [])) == len(fleet.libvirt_names), "groups (constructed) applied")
    hostvars = json.loads(first.stdout)["_meta"]["hostvars"]
    for name, kind in fleet.broken.items():
        reasons = "; ".join(plain(hostvars[name]["novaops_repair_reasons"]))
        hint = dict(killed="crashed", halted="desired running", missing_base="base file",
                    removed_port="OVS port", paused="paused")[kind]
        check(hint in reasons, "%s (%s): reason names it: %s" % (name, kind, reasons))
    # the same through ansible-runner, as an AWX inventory update runs it
    envvars = dict(ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", ""))
    out, err = ansible_runner.interface.get_inventory("list", paths, response_format="json", quiet=True, envvars=envvars)
    runner_groups = dict((g, sorted(b.get("hosts", []))) for g, b in out.items() if g != "_meta") if out else {}
    check(runner_groups == groups, "ansible-runner's inventory has the same groups (%s)" % (err or "")[:200])


def bad_input_corpus(fleet, directory):
    """Each bad configuration fails ansible-inventory with a sentence, without a traceback."""
    env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="1", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="1")
    env.pop("XENAPI_URL", None)
    os.makedirs(directory, exist_ok=True)
    corpus = [
        ("bad.novaops_libvirt.yml", dict(plugin="novaops.compute.libvirt", uris=["not a uri"]), "is not a libvirt URI"),
        ("port.novaops_libvirt.yml", dict(plugin="novaops.compute.libvirt", uris=["qemu+ssh://h:99999/system"]),
         "invalid port"),
        ("item.novaops_libvirt.yml", dict(plugin="novaops.compute.libvirt", uris=[dict(url="qemu:///system")]),
         "Each item of uris"),
        ("down.novaops_libvirt.yml", dict(plugin="novaops.compute.libvirt", uris=["qemu+ssh://root@127.0.0.1:1/system"]),
         "libvirt at qemu+ssh://root@127.0.0.1:1/system"),
        ("opt.novaops_libvirt.yml", dict(plugin="novaops.compute.libvirt", hostname="ip"), "hostname"),
        ("pw.novaops_xenapi.yml", dict(plugin="novaops.compute.xenapi", pools=[fleet.env["XENAPI_POOL_A_URL"]],
                                       password="wrong-%s" % fleet.tag), "login as 'root' was refused"),
        ("nourl.novaops_xenapi.yml", dict(plugin="novaops.compute.xenapi"), "no url"),
        ("env.novaops_xenapi.yml", dict(plugin="novaops.compute.xenapi", pools=[dict(
            url=fleet.env["XENAPI_POOL_A_URL"], password_env="NOVAOPS_FR_UNSET")]), "NOVAOPS_FR_UNSET"),
        ("tls.novaops_xenapi.yml", dict(plugin="novaops.compute.xenapi", pools=[fleet.env["XENAPI_POOL_A_URL"]],
                                        ca_path="/etc/ssl/certs/ca-certificates.crt"), "TLS verification"),
        ("key.novaops_xenapi.yml", dict(plugin="novaops.compute.xenapi", pools=[dict(uri="x")]), "Each item of pools"),
    ]
    for name, cfg, expected in corpus:
        path = os.path.join(directory, name)
        with open(path, "w") as handle:
            json.dump(cfg, handle)
        proc = ansible_inventory([path], "--list", env=env)
        text = proc.stdout + proc.stderr
        check(proc.returncode != 0 and expected in text and "Traceback" not in text,
              "bad input %s fails clearly (%s)" % (name, expected))
        check("wrong-%s" % fleet.tag not in text, "bad input %s does not show the password" % name)
    # one unreachable hypervisor is skipped when asked, with its name kept for the report
    path = os.path.join(directory, "skip.novaops_libvirt.yml")
    with open(path, "w") as handle:
        json.dump(dict(plugin="novaops.compute.libvirt", fail_on_errors=False, include=["%s-a*" % fleet.tag],
                       uris=["qemu:///system", "qemu+ssh://root@127.0.0.1:1/system"]), handle)
    proc = ansible_inventory([path], "--list", "--export", env=env)   # --export: as AWX imports it
    listing = json.loads(proc.stdout) if proc.returncode == 0 else {}
    unreachable = plain((listing.get("all", {}).get("vars", {}) or {}).get("novaops_unreachable_libvirt") or [])
    check(proc.returncode == 0 and len(groups_of(proc.stdout).get("libvirt", [])) == len(fleet.libvirt_names) // 2
          and len(unreachable) == 1, "fail_on_errors: false skips the unreachable URI and names it")


def runner(private, ident, extravars, playbook="fleet_repair.yml", limit=None):
    os.makedirs(os.path.join(private, "env"), exist_ok=True)
    with open(os.path.join(private, "env", "extravars"), "w") as handle:
        json.dump(extravars, handle)
    argv = ["ansible-runner", "run", private, "-p", playbook, "--ident", ident]
    if limit:
        argv += ["--limit", limit]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    artifacts = os.path.join(private, "artifacts", ident)
    events = []
    for path in sorted(glob.glob(os.path.join(artifacts, "job_events", "*.json"))):
        with open(path) as handle:
            events.append(json.load(handle))
    status = open(os.path.join(artifacts, "status")).read().strip() if os.path.exists(
        os.path.join(artifacts, "status")) else "missing"
    print("ansible-runner %s: rc %d, status %s, %d events, %.1fs" % (ident, proc.returncode, status, len(events), took))
    if proc.returncode != 0:
        print(proc.stdout[-6000:])
    return proc.returncode, status, events


def clean_stream(events, ident):
    bad = [e for e in events if e.get("event") in ("runner_on_failed", "runner_on_unreachable", "runner_item_on_failed")]
    check(not bad, "%s: no failed or unreachable job events (%s)" % (
        ident, [(e["event_data"].get("host"), e["event_data"].get("task")) for e in bad][:5]))
    warnings = [e["stdout"] for e in events if "[WARNING]" in e.get("stdout", "") or "[DEPRECATION" in e.get("stdout", "")]
    check(not warnings, "%s: no warnings in the job events %s" % (ident, [w[:200] for w in warnings][:3]))


def read_report(directory):
    with open(os.path.join(directory, "fleet_repair-latest.json")) as handle:
        return json.load(handle)


def main():
    rng_seed = int(os.environ.get("NOVAOPS_FLEET_SEED", str(int(time.time()))))
    rng = random.Random(rng_seed)
    fleet = Fleet(random_tag("fr"))
    print("fleet %s, seed %d, scratch %s" % (fleet.tag, rng_seed, fleet.tmp), flush=True)
    try:
        started = time.monotonic()
        fleet.create()
        took = time.monotonic() - started
        print("created %d + %d instances in %.1fs" % (len(fleet.libvirt_names), len(fleet.xen_names), took), flush=True)
        check(fleet.check() == {}, "the new fleet is healthy from outside")
        picked = fleet.pick(rng, round(len(fleet.libvirt_names) / 3), round(len(fleet.xen_names) / 3))
        fleet.break_instances(picked)
        rest_lv = [n for n in fleet.libvirt_names if n not in picked]
        rest_xen = [n for n in fleet.xen_names if n not in picked]
        fleet.mark_busy(libvirt_metadata=rest_lv[0], libvirt_lock_file=rest_lv[-1], xen=rest_xen[0])
        print("broken: %s; busy: %s" % (json.dumps(fleet.broken, sort_keys=True), json.dumps(fleet.busy, sort_keys=True)))
        check(set(fleet.check()) == set(fleet.broken) | set(fleet.busy), "the breakage is visible from outside")

        private = os.path.join(fleet.tmp, "runner")
        paths = inventory_files(fleet, os.path.join(private, "inventory"))
        os.symlink(os.path.join(collection_root(), "playbooks"), os.path.join(private, "project"))
        inventory_checks(fleet, paths)
        bad_input_corpus(fleet, os.path.join(fleet.tmp, "bad"))

        reports = os.path.join(fleet.tmp, "reports")
        extravars = dict(fleet_repair_report_dir=reports, fleet_repair_batch="50%")
        rc, status, events = runner(private, "first", extravars)
        check(rc == 0 and status == "successful", "first run succeeds")
        clean_stream(events, "first")
        wrong = fleet.check()
        check(set(wrong) == set(fleet.busy), "every instance but the busy ones is in its desired state: %s" % wrong)
        check(all(fleet.lock_intact(name) for name in fleet.busy), "the busy ones keep their locks")
        report = read_report(reports)
        check(sorted(e["host"] for e in report["repaired"]) == sorted(fleet.broken),
              "the report lists exactly the broken ones as repaired")
        check(all(e.get("verified") for e in report["repaired"]), "each repair verified by the fresh inventory read")
        check(report["failed"] == [] and report["pending"] == [] and report["still_broken"] == [],
              "nothing failed, pending or still broken")
        check(sorted(e["host"] for e in report["skipped"]) == sorted(fleet.busy)
              and all(e["why"] == "busy" for e in report["skipped"]), "the busy ones are reported as skipped")
        check(report["summary"]["ok"] and report["summary"]["repaired"] == len(fleet.broken), "summary ok")
        with open(os.path.join(reports, "fleet_repair-latest.html")) as handle:
            page = handle.read()
        check(all(name in page for name in fleet.broken) and page.startswith("<!DOCTYPE html>"),
              "the HTML report names every repaired instance")
        stats = [e for e in events if e.get("event") == "playbook_on_stats"]
        check(bool(stats) and stats[-1]["event_data"].get("artifact_data", {}).get("fleet_repair", {}).get(
            "repaired") == len(fleet.broken), "the summary is in the job's artifacts (set_stats)")

        rc, status, events = runner(private, "second", extravars)
        check(rc == 0 and status == "successful", "second run succeeds")
        clean_stream(events, "second")
        changed = [e for e in events if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("changed")]
        check(not changed, "second run changes nothing (%s)" % [e["event_data"]["task"] for e in changed][:3])
        report = read_report(reports)
        check(report["summary"]["found"] == 0 and report["repaired"] == [], "second run finds nothing to repair")

        # the roles' own playbook on this inventory (the plugins set the variables the roles read)
        one_each = sorted(set(fleet.libvirt_names) - set(fleet.busy))[-1], sorted(set(fleet.xen_names) - set(fleet.busy))[-1]
        rc, status, events = runner(private, "hard_reboot", {}, playbook="hard_reboot.yml", limit=",".join(one_each))
        check(rc == 0 and status == "successful", "hard_reboot.yml runs on the plugins' inventory (%s)" % ", ".join(one_each))
        clean_stream(events, "hard_reboot")
        rebooted = sorted(set(e["event_data"]["host"] for e in events
                              if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("changed")))
        check(rebooted == sorted(one_each), "hard_reboot.yml rebooted exactly the limited hosts: %s" % rebooted)
        check(set(fleet.check()) == set(fleet.busy), "and they run again")

        # a repair that cannot succeed (its image is gone with its base file): reported as failed, with why;
        # max_fail_percentage stops the run after that batch and the report of it stays behind
        doomed = sorted(set(fleet.libvirt_names) - set(fleet.busy) - set(one_each))[0]
        fleet.break_instances({doomed: "halted"})
        fleet.break_instances({doomed: "missing_base"})
        os.unlink(fleet.image(doomed))
        rc, status, events = runner(private, "failing", dict(extravars, fleet_repair_max_fail_percentage=0))
        check(rc != 0 and status == "failed", "a failed repair fails the job")
        with open(sorted(glob.glob(os.path.join(reports, "fleet_repair-2*.json")), key=os.path.getmtime)[-1]) as handle:
            report = json.load(handle)
        check([e["host"] for e in report["failed"]] == [doomed] and "image" in report["failed"][0]["msg"].lower(),
              "the report names the failed repair and why: %s" % [e.get("msg", "")[:150] for e in report["failed"]])
        check(not report["final"] and report["repaired"] == [], "the report of the stopped run stays behind")
    finally:
        errors = fleet.destroy()
        check(not errors, "cleanup (%s)" % errors)
    print("%d check(s) failed" % len(FAILURES) if FAILURES else "all checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

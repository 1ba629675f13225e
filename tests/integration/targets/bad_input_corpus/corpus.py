# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad-input corpus of #13 over every module (run by runme.sh; roles: role_corpus.py).

For each module found in plugins/modules: its argument spec (read as validate-modules reads
it), a valid and converged base call on the beds (bases.py), and per option - sub-options
of the base's dicts and first list element too - the values of corpus_values.py.  A case
runs first in check mode:

- refused by the argument spec: done (the same code refuses it in a real run);
- refused by the module: run for real too, which must refuse it as clearly and change nothing;
- accepted: only where verdicts.py says why that value is legitimate (and never for real).

Every run must end with a result that has a msg when failed, no traceback, no crash, no
hang, no secret of the base call in its output, a msg that is a sentence and not a Python
error's text.  The cases run on a few workers (case_pool.py), a batch of whole options at a
time; after each batch, the beds' state (bed_state.py) must be what it was, and no command
injected by a value may have run (canary files).  Prints the corpus count per module and in
total.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import time

import bed_state
import case_pool
import corpus_values
import module_runner
import verdicts
from module_runs import collections_root
from bases import Bed

HERE = os.path.dirname(os.path.abspath(__file__))
# cases per worker in a batch: the beds are compared after each batch (fewer, longer batches cost
# fewer snapshots; a change is then named with the batch's options)
BATCH_PER_WORKER = 4
# a failure message that is a Python error's text rather than a sentence for an operator
RAW_ERROR = re.compile(r"object has no attribute|'NoneType'|NoneType|Traceback|\bKeyError\b|\bTypeError\b|"
                       r"\bIndexError\b|\bAttributeError\b|unhashable type|not subscriptable|codec can't|"
                       r"unsupported operand|object is not iterable|takes \d+ positional|"
                       r"invalid literal for int\(\) with base|embedded null (byte|character)")


class Report:
    def __init__(self, secrets):
        self.failures = []
        self.counts = collections.Counter()       # module -> cases
        self.outcomes = collections.Counter()     # (module, outcome) -> n
        self.accepted = collections.defaultdict(list)
        self.secrets = secrets

    def fail(self, what):
        self.failures.append(what)
        print("FAIL %s" % what, flush=True)

    def scan(self, label, outcome):
        """The run's own output must hold no secret and no traceback-shaped message."""
        text = outcome.stdout + outcome.stderr
        for secret in self.secrets:
            if secret in text:
                self.fail("%s: a secret of the base call is in the output" % label)
        crash = outcome.crash()
        if crash:
            self.fail("%s: %s" % (label, crash))
            return False
        msg = (outcome.result or {}).get("msg") or ""
        if outcome.failed and outcome.parsed and RAW_ERROR.search(msg):   # (ansible's own spec messages aside)
            self.fail("%s: the msg is a Python error, not a sentence: %s" % (label, msg[:300]))
        return True


def judge(case, checked, real, report):
    """Judge one case's runs (case_pool.run_case); returns whether it got past the argument parsing
    (for the state check)."""
    label = case.label()
    report.counts[case.module] += 1
    if not report.scan(label + " [check mode]", checked):
        return True
    if checked.failed:
        if not checked.parsed:
            report.outcomes[(case.module, "refused by the argument spec")] += 1
            return False
        if not report.scan(label, real):
            return True
        if not real.failed:
            report.fail("%s: refused in check mode but applied for real (changed=%s)" % (label, real.result.get("changed")))
        elif real.result.get("changed"):
            report.fail("%s: refused but reports changed=true" % label)
        else:
            report.outcomes[(case.module, "refused by the module")] += 1
        return True
    reason = verdicts.acceptable(case, checked.result.get("changed"))
    if reason is None:
        report.fail("%s: accepted (check mode: changed=%s) - a bad value should be refused"
                    % (label, checked.result.get("changed")))
        return True
    report.outcomes[(case.module, "accepted, legitimately")] += 1
    report.accepted[case.module].append("%s=%s: %s" % (case.option, case.kind, reason))
    return True


def run_base(base, report, work, results, check_idempotence=True):
    """The base call for real (it converges), and again: it must succeed and then change nothing.
    A check-mode base (a move) must succeed in check mode and predict its change."""
    started = time.monotonic()
    first = module_runner.run(base.module, base.args, check_mode=base.check_mode, timeout=600, workdir=work)
    if not report.scan("base %s" % base.label, first) or first.failed:
        report.fail("base %s failed: %s" % (base.label, (first.result or {}).get("msg")))
        return False
    results[base.label] = first.result
    if base.check_mode and not first.result.get("changed"):
        report.fail("base %s (check mode) predicts no change: the instance is not where the base needs it"
                    % base.label)
        return False
    if check_idempotence and not base.check_mode:
        again = module_runner.run(base.module, base.args, timeout=600, workdir=work)
        if again.failed or again.result.get("changed"):
            report.fail("base %s is not idempotent: second run changed=%s actions=%s msg=%s" % (
                base.label, again.result and again.result.get("changed"), again.result and again.result.get("actions"),
                again.result and again.result.get("msg")))
    print("base %-32s ok (changed=%s) in %.0fs" % (base.label, first.result.get("changed"), time.monotonic() - started),
          flush=True)
    return True


def batches(cases, size):
    """The cases, whole options at a time, in runs of at least ``size`` cases (the last may be less)."""
    batch = []
    by_option = collections.OrderedDict()
    for case in cases:
        by_option.setdefault(case.path, []).append(case)
    for option_cases in by_option.values():
        batch.extend(option_cases)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def corpus_of(base, spec, bed, report, state, work, pool, limit=None):
    """The base's cases, a batch of options at a time on the pool; the beds are compared and the
    canaries looked for between batches, when no case is running."""
    ctx = dict(canary=bed.canary, symlink_escape=bed.symlink_escape)
    skip = ()
    if base.only is not None:
        skip = tuple(name for name in spec["argument_spec"] if name not in base.only)
    cases = corpus_values.generate(base.module, spec, base.args, ctx, skip=skip, sampled=base.sampled())
    if limit:
        cases = cases[:limit]
    started = time.monotonic()
    before = state.snapshot()
    comparing = time.monotonic() - started
    for batch in batches(cases, BATCH_PER_WORKER * pool.workers):
        ran_past_parsing = False
        for case, (checked, real) in zip(batch, pool.run(batch, work)):
            ran_past_parsing = judge(case, checked, real, report) or ran_past_parsing
        options = sorted(set(case.option for case in batch))
        options = options[0] if len(options) == 1 else "one of " + ", ".join(options)
        if ran_past_parsing:
            compared = time.monotonic()
            after = state.snapshot()
            comparing += time.monotonic() - compared
            changes = bed_state.diff(before, after)
            if changes:
                report.fail("%s %s: the beds changed: %s" % (base.label, options, "; ".join(changes[:8])))
                before = after
        found = bed.canaries_found()
        if found:
            report.fail("%s %s: an injected command ran: %s" % (base.label, options, found))
            for name in found:
                path_found = os.path.join(bed.canary_dir, name)
                if os.path.exists(path_found):
                    os.remove(path_found)
    print("corpus %-32s %5d cases in %.0fs (comparing the beds %.0fs)"
          % (base.label, len(cases), time.monotonic() - started, comparing), flush=True)
    return len(cases)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated base labels or modules")
    parser.add_argument("--limit", type=int, default=0, help="at most this many cases per base (development)")
    parser.add_argument("--keep", action="store_true", help="leave this run's things on the beds")
    parser.add_argument("--workers", type=int, default=case_pool.default_workers(),
                        help="cases run at the same time (default: cores + 1, or CORPUS_WORKERS)")
    opts = parser.parse_args()
    sys.path.insert(0, collections_root())
    from ansible_collections.novaops.compute.plugins.module_utils.glance.client import GlanceClient  # pylint: disable=import-outside-toplevel

    env = dict(os.environ)
    names = module_runner.module_names(os.path.join(collections_root(), "ansible_collections", "novaops", "compute"))
    module_runner.preload(names)
    specs = dict((name, module_runner.load_spec(name)) for name in names)
    bed = Bed(env)
    report = Report(bed.secrets())
    bases = bed.bases()
    wanted = set(filter(None, opts.only.split(",")))
    chosen = [b for b in bases if not wanted or b.label in wanted or b.module in wanted]
    needed = set(b.label for b in chosen)
    results = {}
    healthy = {}
    totals = collections.Counter()
    glance = GlanceClient(env["OS_IMAGE_URL"], project_id=bed.tag, roles=["admin"])
    offsets = log_offsets(env)
    pool = case_pool.CasePool(opts.workers)     # forked here: the workers have what preload() imported
    try:
        bed.setup()
        if any(_needed_by(b, chosen) for b in bases if b.module.startswith("xen_image")):   # a base, or a setup
            bed.upload_vhd_image(glance)
        work = os.path.join(bed.work, "runs")
        os.makedirs(work, exist_ok=True)
        state = bed_state.BedState(bed.tag, env, bed.work, bed.pools, glance)
        print("run %s: %d modules; without an AnsibleModule (action plugin stubs, not run): %s" % (
            bed.tag, len(names), ", ".join(n for n in names if specs[n] is None) or "none"), flush=True)
        for name in names:
            if specs[name] is not None and not any(b.module == name for b in bases):
                report.fail("module %s has no base call in bases.py: it is not in the corpus" % name)
        for base in bases:
            if base.label not in needed and not (base.setup and _needed_by(base, chosen)):
                continue
            bed.resolve(base, results)
            healthy[base.label] = run_base(base, report, work, results, check_idempotence=base.label in needed)
        for base in chosen:
            if not healthy.get(base.label):
                report.fail("corpus %s skipped: its base call failed" % base.label)
                continue
            totals[base.module] += corpus_of(base, specs[base.module], bed, report, state, work, pool, opts.limit)
        if healthy.get("xen_vm"):
            tls_checks(bed, report)
    finally:
        pool.close()
        if not opts.keep:
            for module, args in bed.teardown_calls():
                done = module_runner.run(module, args, timeout=600)
                if done.failed and "nothing" not in (done.result or {}).get("msg", ""):
                    print("teardown %s: %s" % (module, (done.result or {}).get("msg")), flush=True)
            bed.teardown_extra(print, results.get("vhd_migrate"))
            left = bed_state.BedState(bed.tag, env, bed.work, {}, glance)
            leftovers = dict(libvirt=left.libvirt(), glance=left.glance_images(),
                             ovs=dict((k, v) for k, v in left.ovs().items() if v and k != "tc"))
            if any(leftovers.values()):
                report.fail("left on the beds after teardown: %s" % bed_state.diff({}, leftovers)[:10])
    for found in secrets_in_logs(offsets, bed.secrets()):
        report.fail("a bed's log: %s" % found)
    print()
    for module in sorted(totals):
        outcomes = ", ".join("%s %d" % (k[1], v) for k, v in sorted(report.outcomes.items()) if k[0] == module)
        print("corpus %-22s %5d cases (%s)" % (module, totals[module], outcomes))
    total = sum(totals.values())
    print("corpus total %d cases over %d modules on %d workers (%d contended case(s) run again alone); %d failure(s)"
          % (total, len(totals), pool.workers, pool.reruns, len(report.failures)))
    if os.environ.get("CORPUS_SHOW_ACCEPTED"):
        for module, items in sorted(report.accepted.items()):
            for item in items:
                print("accepted %s %s" % (module, item))
    return 1 if report.failures else 0


BED_LOGS = ("xapisim/pool-a.log", "xapisim/pool-b.log", "xapisim/lane2-pool-a.log", "xapisim/lane2-pool-b.log", "glance/glance-api.log", "glance/uwsgi.log",
            "sshd/sshd.log", "libvirt/libvirtd.log")


def log_offsets(env):
    out = {}
    for name in BED_LOGS:
        path = os.path.join(env["NOVAOPS_BEDS_DIR"], name)
        out[path] = os.path.getsize(path) if os.path.exists(path) else 0
    return out


def secrets_in_logs(offsets, secrets):
    """Which beds' logs got one of the secrets written since the offsets were taken."""
    found = []
    for path, offset in offsets.items():
        if not os.path.exists(path):
            continue
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
        found.extend("%s holds a secret" % path for secret in secrets if secret in text)
    return found


def tls_checks(bed, report):
    """validate_certs (default true) against the simulator's TLS: with its CA, without it, opted out."""
    env = bed.env
    base = dict(url=env["XENAPI_POOL_A_URL"], password=bed.password_a, name=bed.vm)
    saved = os.environ.pop("XENAPI_CA_PATH", None)
    try:
        with_ca = module_runner.run("xen_vm_info", dict(base, ca_path=env["XENAPI_CA_PATH"]))
        without = module_runner.run("xen_vm_info", base)
        opted_out = module_runner.run("xen_vm_info", dict(base, validate_certs=False))
    finally:
        if saved is not None:
            os.environ["XENAPI_CA_PATH"] = saved
    for label, outcome in (("with the CA", with_ca), ("without the CA", without), ("validate_certs=false", opted_out)):
        report.scan("tls %s" % label, outcome)
    checks = [
        (not with_ca.failed and with_ca.result.get("exists"), "https with ca_path: verified and answered"),
        (without.failed and "TLS verification" in (without.result or {}).get("msg", "") and not without.crash(),
         "https without the CA (validate_certs left at its default): refused clearly: %s"
         % (without.result or {}).get("msg")),
        (not opted_out.failed and opted_out.result.get("exists"), "validate_certs=false: the explicit opt-out works"),
    ]
    for passed, what in checks:
        print("%s %s" % ("ok  " if passed else "FAIL", what), flush=True)
        if not passed:
            report.failures.append(what)


def _needed_by(base, chosen):
    """A setup base another chosen base stands on (the modules of one family share them)."""
    family = base.module.split("_")[0]
    return any(c.module.split("_")[0] == family for c in chosen)


if __name__ == "__main__":
    sys.exit(main())

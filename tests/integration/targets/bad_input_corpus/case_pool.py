# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the corpus's cases on a pool of forked workers, a batch at a time.

Much of a case is waiting (on xapi, libvirtd, ovsdb, Glance), so a few workers keep the
cores busy.  The workers are forks of the driver after module_runner.preload(), so each
one forks its module runs as cheaply as the driver did; a worker is single-threaded, so
those forks are safe.

Cases of one batch run at the same time on the same instance, which a serial run never
did: a changing run refused because another case's run holds the instance's operation lock,
or a wait that ran out on a loaded machine, says nothing about the value.  Such a case
(``contended``) is run again alone once the batch is done, and that run is the one judged.
"""

from __future__ import annotations

import multiprocessing
import os

import module_runner

# what a refusal says when it is about the neighbours, not the value (operation_lock.InstanceBusy,
# errors.WaitTimeout)
CONTENDED = ("is busy:", "carries the mark of", "Timed out after")


def default_workers():
    """One more than the cores: a case spends much of its time waiting on a bed."""
    return int(os.environ.get("CORPUS_WORKERS") or (os.cpu_count() or 2) + 1)


def run_case(case, work):
    """The case in check mode; for real too where the module itself refused it in check mode."""
    checked = module_runner.run(case.module, case.args, check_mode=True, workdir=work)
    real = None
    if checked.crash() is None and checked.failed and checked.parsed:
        real = module_runner.run(case.module, case.args, check_mode=False, workdir=work)
    return checked, real


def _run_indexed(job):
    number, case, work = job
    return number, run_case(case, work)


def contended(outcome):
    if outcome is None or not outcome.failed:
        return False
    msg = (outcome.result or {}).get("msg") or ""
    return any(mark in msg for mark in CONTENDED)


class CasePool:
    """``CasePool(n)`` forks its workers at once; ``run(cases, work)`` -> [(checked, real)] in the
    cases' order; ``close()`` at the end."""

    def __init__(self, workers):
        self.workers = max(1, workers)
        self.pool = multiprocessing.get_context("fork").Pool(self.workers) if self.workers > 1 else None
        self.reruns = 0

    def close(self):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None

    def run(self, cases, work):
        """All of ``cases``; when it returns, none of their runs is still going."""
        if self.pool is None or len(cases) < 2:
            return [run_case(case, work) for case in cases]
        outcomes = [None] * len(cases)
        for number, pair in self.pool.imap_unordered(_run_indexed, [(n, c, work) for n, c in enumerate(cases)]):
            outcomes[number] = pair
        for number, pair in enumerate(outcomes):
            if any(contended(outcome) for outcome in pair):
                self.reruns += 1
                outcomes[number] = run_case(cases[number], work)
        return outcomes

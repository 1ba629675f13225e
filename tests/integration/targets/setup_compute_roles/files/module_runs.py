# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one module as a user does (``ansible localhost -m``) and judge its failure: the script
targets that drive modules directly (connection_faults, operation_lock, bad_input_corpus)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def collections_root():
    """The directory holding ansible_collections/novaops/compute (ansible-test's copy, else this tree)."""
    for path in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
        if os.path.isdir(os.path.join(path, "ansible_collections", "novaops", "compute", "plugins")):
            return path
    # files -> setup_compute_roles -> targets -> integration -> tests -> compute -> novaops -> ansible_collections
    return os.path.abspath(os.path.join(HERE, *[".."] * 8))


def module_run(module, args, env=None, check_mode=False, background=False, timeout=600):
    """``ansible localhost -m novaops.compute.<module>``; the task's result, or with ``background``
    the process (in its own session, so that a test can kill the run with everything it started)."""
    argv = ["ansible", "localhost", "-m", "novaops.compute.%s" % module, "-a", json.dumps(args),
            "-e", "ansible_python_interpreter=%s" % sys.executable] + (["--check"] if check_mode else [])
    run_env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", **(env or {}))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env,
                            start_new_session=background)
    if background:
        return proc
    return module_result(proc, timeout)


def module_result(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    try:
        return json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        return dict(failed=True, msg="no JSON result", stdout=out, stderr=err)


def clean_failure(result):
    """Failed with a msg, and without a traceback or a module crash.

    (ansible-core 2.19's controller adds ``exception: (traceback unavailable)`` to every failed
    result when tracebacks are not collected: that one says nothing.)
    """
    text = json.dumps(result)
    return bool(result.get("failed")) and bool(result.get("msg")) and "Traceback" not in text and \
        "MODULE FAILURE" not in text and "module_stderr" not in result and \
        result.get("exception") in (None, "(traceback unavailable)")


def run_sections(sections, check):
    """Each section to its end: one that crashes is a failed ``check`` (its traceback printed), and the
    next still runs."""
    for section in sections:
        try:
            section()
        except Exception as exc:  # pylint: disable=broad-except
            check(False, "section crashed: %r" % exc)
            traceback.print_exc()

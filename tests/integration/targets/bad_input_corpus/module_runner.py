# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the collection's modules the way AnsiballZ does, thousands of times, cheaply.

The parent imports ansible, the SDKs and every module_utils once; each run is a fork whose
child hands the module its JSON arguments (``basic._ANSIBLE_ARGS``) and runs it as
``__main__`` through ansible's own ``_ansiballz._loader.run_module`` - what the AnsiballZ
wrapper does on a managed node - with its stdout and stderr captured.  The child also
notes whether AnsibleModule finished parsing the arguments, so that a failure can be told
apart: refused by the argument spec, or later by the module itself.

Argument specs are read the way ansible-test's validate-modules reads them: the module
runs with AnsibleModule.__init__ replaced by a function that raises with its keywords.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib
import json
import os
import runpy
import select
import signal
import sys
import tempfile
import time

from ansible.module_utils import basic
from ansible.module_utils._internal._ansiballz import _loader

PREFIX = "ansible_collections.novaops.compute.plugins.modules."
PARSED = b"parsed\n"


class _SpecCaptured(Exception):
    pass


def module_names(collection_root):
    return sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(collection_root, "plugins", "modules", "*.py"))
                  if not os.path.basename(path).startswith("_"))


def load_spec(name):
    """The keywords the module gives AnsibleModule: argument_spec, mutually_exclusive, ...

    None for a documentation stub of an action plugin (it never makes an AnsibleModule).
    """
    original = basic.AnsibleModule.__init__

    def capture(self, *args, **kwargs):
        raise _SpecCaptured(kwargs)

    basic.AnsibleModule.__init__ = capture
    try:
        runpy.run_module(PREFIX + name, run_name="__main__", alter_sys=False)
    except _SpecCaptured as captured:
        return captured.args[0]
    finally:
        basic.AnsibleModule.__init__ = original
    return None


def preload(names):
    """Import what every child would import anyway, once, before forking."""
    for sdk in ("XenAPI", "libvirt", "yaml"):
        try:
            importlib.import_module(sdk)
        except ImportError:
            pass
    package = "ansible_collections.novaops.compute.plugins.module_utils"
    root = os.path.dirname(importlib.import_module(package + ".common.errors").__file__)
    root = os.path.dirname(root)     # module_utils/, whose folders group them by what they talk to
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
        name = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
        if not name.endswith("__init__"):
            importlib.import_module("%s.%s" % (package, name))
    for name in names:
        load_spec(name)


@dataclasses.dataclass(eq=False)
class Outcome:
    """What one run gave: the parsed result (or None), raw stdout/stderr, whether it parsed, rc."""

    result: dict            # None when the run printed no JSON
    stdout: str
    stderr: str
    parsed: bool
    status: int
    seconds: float
    timed_out: bool

    @property
    def failed(self):
        return self.result is None or bool(self.result.get("failed"))

    def crash(self):
        """Why this run is a crash (a traceback, no JSON, a hang), or None."""
        if self.timed_out:
            return "no answer within the time limit (killed)"
        if self.result is None:
            return "no JSON result (rc %s): %s" % (self.status, (self.stdout + self.stderr)[-400:])
        if "exception" in self.result:
            return "unhandled exception: %s" % json.dumps(self.result["exception"])[:600]
        if "module_stderr" in self.result or "Traceback (most recent call last)" in self.stdout + self.stderr:
            return "traceback: %s" % (self.stderr or self.stdout)[-600:]
        if self.failed and not (self.result.get("msg") or "").strip():
            return "failed without a msg"
        return None


def run(name, args, check_mode=False, diff=True, timeout=120, workdir=None):
    """One run of module ``name`` with ``args``, in a forked child."""
    params = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff, _ansible_module_name="novaops.compute." + name,
                  _ansible_no_log=False, _ansible_verbosity=0, _ansible_debug=False, _ansible_keep_remote_files=False)
    payload = json.dumps(dict(ANSIBLE_MODULE_ARGS=params)).encode()
    out = tempfile.TemporaryFile(dir=workdir)
    err = tempfile.TemporaryFile(dir=workdir)
    marker_read, marker_write = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:   # the child: run the module as AnsiballZ does, then leave without cleanup of the parent's state
        status = 70
        try:
            os.close(marker_read)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            os.setpgid(0, 0)
            original = basic.AnsibleModule.__init__

            def noting_init(self, *a, **kw):
                original(self, *a, **kw)
                os.write(marker_write, PARSED)

            basic.AnsibleModule.__init__ = noting_init
            _loader.run_module(json_params=payload, profile="legacy", module_fqn=PREFIX + name,
                               modlib_path="", extensions={})
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # pylint: disable=broad-except
            import traceback  # pylint: disable=import-outside-toplevel
            traceback.print_exc()
            status = 71
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(status)  # pylint: disable=protected-access
    os.close(marker_write)
    status, timed_out = _wait(pid, timeout)
    seconds = time.monotonic() - started
    parsed = os.read(marker_read, 64) == PARSED
    os.close(marker_read)
    out.seek(0)
    err.seek(0)
    stdout = out.read().decode("utf-8", "replace")
    stderr = err.read().decode("utf-8", "replace")
    out.close()
    err.close()
    result = _last_json(stdout)
    return Outcome(result, stdout, stderr, parsed, os.waitstatus_to_exitcode(status), seconds, timed_out)


def _wait(pid, timeout):
    """The child's wait status, and whether it was killed at ``timeout`` (with its process group).

    A pidfd turns readable when the child exits: no polling, which on thousands of runs costs
    the busy cores time and every run a few milliseconds.
    """
    pidfd = os.pidfd_open(pid)
    try:
        exited, _w, _x = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not exited:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1], not exited


def _last_json(text):
    """The module's JSON answer: the last line that parses as an object (noise may precede it)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None

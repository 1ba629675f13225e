# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Writing a run's report on the controller: host variables as plain JSON, and the JSON and HTML
files written whole (a reader never sees half a file), under the run's name and as ``-latest``."""

from __future__ import annotations

import json
import os
import tempfile
import time

from ansible.module_utils.common.text.converters import to_native

# the options of a report's files, shared by the report action plugins (doc fragment run_report)
REPORT_ARGS = dict(dir=dict(type="path", required=True),
                   run_id=dict(type="str", required=True),
                   started=dict(type="str"),
                   finished=dict(type="str"),
                   final=dict(type="bool", default=True))


def plain(value):
    """Host variables as plain JSON values (lazy containers and tagged strings included)."""
    return json.loads(json.dumps(value, default=to_native))


def finished_at(given, final, now=None):
    """When the run finished: as given, else at the end of the run (final) now in UTC, else not yet (None)."""
    if given or not final:
        return given or None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def host_vars(hostvars, names, keys):
    """The ``keys`` of each named host's variables (templating all of them would be slow, and fail on
    any bad one), with its inventory_hostname."""
    out = []
    for name in names:
        if name not in hostvars:
            continue
        found = hostvars[name]
        out.append(dict(plain(dict((key, found[key]) for key in keys if key in found)), inventory_hostname=name))
    return out


def _write(path, text):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_report(directory, prefix, run_id, report, page, latest):
    """Write ``<prefix>-<run_id>.json/.html`` (and ``<prefix>-latest.*`` when ``latest``) into
    ``directory``; the run's two paths. Raises OSError."""
    base = os.path.join(directory, "%s-%s" % (prefix, run_id))
    names = [base] + ([os.path.join(directory, "%s-latest" % prefix)] if latest else [])
    os.makedirs(directory, mode=0o755, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    for name in names:
        _write(name + ".json", text)
        _write(name + ".html", page)
    return dict(json=base + ".json", html=base + ".html")

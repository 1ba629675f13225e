# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every cell of the fault campaign shares: its tag, checks, table and Glance look-ups."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid

from roles_lib import Checks

E = os.environ
TAG = "fc-%s" % uuid.uuid4().hex[:5]
GLANCE_HEADERS = {"X-Roles": "admin", "X-Tenant-Id": "nt-ro"}
check = Checks()
TABLE = []      # (operation, driver, step, outcome)


def add_row(operation, driver, step, outcome, failures_before):
    """One cell's line; a cell whose checks failed says so, whatever its outcome was."""
    converged = len(check.failures) == failures_before
    TABLE.append((operation, driver, step, outcome if converged else "NOT CONVERGED: " + outcome))


def stop_process(proc, timeout):
    """A process of the campaign's own ended: asked to (SIGTERM), killed if it is still there after ``timeout`` s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def repo_root():
    """The checkout the beds run from (tools/ is not part of the installed collection)."""
    return os.path.dirname(E["NOVAOPS_BEDS_DIR"])


def glance_images(glance_url):
    """The images of this campaign in the Glance at glance_url, with their status."""
    url = "%s/v2/images?limit=1000" % glance_url
    with urllib.request.urlopen(urllib.request.Request(url, headers=GLANCE_HEADERS), timeout=60) as resp:
        return [i for i in json.load(resp)["images"] if (i.get("name") or "").startswith(TAG)]


def glance_half_made(glance_url=None):
    """Images of this campaign in Glance that are not active (queued, saving, killed)."""
    return [(i["name"], i["status"]) for i in glance_images(glance_url or E["NOVAOPS_GLANCE_URL"])
            if i["status"] != "active"]


def glance_delete_all(glance_url=None):
    glance_url = glance_url or E["NOVAOPS_GLANCE_URL"]
    for image in glance_images(glance_url):
        request = urllib.request.Request("%s/v2/images/%s" % (glance_url, image["id"]),
                                         headers=GLANCE_HEADERS, method="DELETE")
        urllib.request.urlopen(request, timeout=60).close()


# The beds' log directories (access logs included) that no secret may reach: both Glances and Keystone.
BED_LOG_DIRS = ("NOVAOPS_GLANCE_LOGS", "NOVAOPS_GLANCE_KEYSTONE_LOGS", "NOVAOPS_KEYSTONE_LOGS")


def bed_logs():
    """Every *.log under the beds' log directories (those of beds that run here)."""
    logs = []
    for var in BED_LOG_DIRS:
        for folder, _dirs, files in os.walk(E.get(var) or "/nonexistent"):
            logs += [os.path.join(folder, name) for name in sorted(files) if name.endswith(".log")]
    return logs


def keystone_bed_secrets():
    """The Keystone bed's passwords and application credential secret (its secrets/ directory)."""
    folder = os.path.join(E.get("NOVAOPS_KEYSTONE_LOGS") or "/nonexistent", "secrets")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    found = {}
    for name in names:
        if name != "appcred-id":
            with open(os.path.join(folder, name)) as handle:
                found["the Keystone bed's %s secret" % name] = handle.read().strip()
    return found


def secrets_shown(log_dirs, secrets):
    """No secret of the campaign (passwords, tokens), nor of the Keystone bed, in any run's output or
    in the Glance and Keystone beds' logs."""
    runs = [os.path.join(d, name) for d in log_dirs for name in sorted(os.listdir(d))]
    secrets = dict(secrets, **keystone_bed_secrets())
    shown = []
    for path in runs + bed_logs():
        with open(path, errors="replace") as handle:
            text = handle.read()
        shown += ["%s in %s" % (label, path) for label, secret in secrets.items() if secret in text]
    check(not shown, "no password or token of the campaign or the Keystone bed (nor the password in a Glance URL) "
          "appears in any run's output (%d runs) or the beds' logs (%d)" % (len(runs), len(bed_logs())), shown)


def print_table():
    print("\nfault campaign: operation x driver x step x outcome")
    heading = ("operation", "driver", "step", "outcome")
    widths = [max(len(row[i]) for row in TABLE + [heading]) for i in range(3)]
    line = "%-*s  %-*s  %-*s  %s"
    print(line % (widths[0], heading[0], widths[1], heading[1], widths[2], heading[2], heading[3]))
    for row in TABLE:
        print(line % (widths[0], row[0], widths[1], row[1], widths[2], row[2], row[3]))
    recovered = sum(1 for row in TABLE if not row[3].startswith("NOT CONVERGED"))
    print("%d cells, %d recovered or refused cleanly, %d not converged" % (len(TABLE), recovered, len(TABLE) - recovered),
          flush=True)

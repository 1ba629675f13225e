# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""secrets_grep.py CLOUDS_YAML LOG...: no password, token or application credential secret of the clouds
(nor of the Keystone bed: its admin's and Glance's passwords) in the logs given, nor in any log of the
Keystone and Glance-behind-Keystone beds (their access logs included)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

SECRET_KEYS = ("password", "token", "application_credential_secret")
CONFIG = Path(__file__).resolve().parent / ".." / ".." / "integration_config.yml"


def secrets_of(clouds):
    """{label: secret} of every cloud's auth."""
    found = {}
    for name, cloud in (clouds.get("clouds") or {}).items():
        for key, value in ((cloud or {}).get("auth") or {}).items():
            if key in SECRET_KEYS and value:
                found["%s's %s" % (name, key)] = str(value)
    return found


def bed_logs(env):
    """Every log file of the Keystone and Glance-behind-Keystone beds."""
    logs = []
    for var in ("NOVAOPS_KEYSTONE_LOGS", "NOVAOPS_GLANCE_KEYSTONE_LOGS"):
        logs += sorted(Path(env[var]).rglob("*.log"))
    return logs


def main(clouds_file, *logs):
    env = json.loads(CONFIG.read_text())["beds_env"]
    secrets = secrets_of(yaml.safe_load(Path(clouds_file).read_text()))
    for path in sorted((Path(env["NOVAOPS_KEYSTONE_LOGS"]) / "secrets").iterdir()):
        if path.name != "appcred-id":
            secrets["the Keystone bed's %s secret" % path.name] = path.read_text().strip()
    paths = [Path(log) for log in logs] + bed_logs(env)
    shown = ["%s in %s" % (label, path) for path in paths for label, secret in secrets.items()
             if secret in path.read_text(errors="replace")]
    if shown or len(secrets) < 6:
        print("FAIL secrets: %s" % ("; ".join(shown) or "too few secrets to look for: %s" % ", ".join(secrets)))
        return 1
    print("ok   no secret of %d (%s) in %d logs" % (len(secrets), ", ".join(sorted(secrets)), len(paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault campaign (run by runme.sh): every role on both drivers, broken at one external step at a time.

xenapi_cells.py and libvirt_cells.py each run their cells (a fault, the checks of what is left, a
converging re-run); the table of operation x driver x step x outcome and the cell count are printed
at the end, and no run's output may show a password or token of the campaign.
console_cells.py ends each half: the console through a proxy of the campaign's own while the
hypervisor side goes away.  FAULT_CAMPAIGN_DRIVERS=xenapi (or libvirt, or console) runs one half, while developing (ansible-test does not pass
it through: run runme.sh by hand in the built collection).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

import console_cells
import libvirt_cells
import xenapi_cells
from campaign import TAG, check, glance_delete_all, print_table, secrets_shown

# each half ends with its console cells; "console" alone runs only those (while developing)
DRIVERS = {"xenapi": (xenapi_cells.run, console_cells.run_xenapi),
           "libvirt": (libvirt_cells.run, console_cells.run_libvirt),
           "console": (console_cells.run_xenapi, console_cells.run_libvirt)}


def main():
    root = tempfile.mkdtemp(prefix=TAG + "-")   # short, plain paths: the SR directory is an rsync target
    secrets = {"the pools' password": uuid.uuid4().hex}
    log_dirs = []
    try:
        for driver in os.environ.get("FAULT_CAMPAIGN_DRIVERS", "xenapi,libvirt").split(","):
            os.makedirs(os.path.join(root, driver))
            for run in DRIVERS[driver]:
                log_dirs.append(run(os.path.join(root, driver), secrets))
        secrets_shown([d for d in log_dirs if d], secrets)
    finally:
        print_table()
        try:
            glance_delete_all()
        except Exception as exc:  # pylint: disable=broad-except
            print("cleanup: Glance images of %s not deleted: %s" % (TAG, exc))
        if not check.failures:
            shutil.rmtree(root, ignore_errors=True)
    check.exit()


if __name__ == "__main__":
    main()

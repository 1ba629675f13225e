# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A run that holds an instance's operation lock until it is killed (the test's other operation).

    lock_holder.py xen <VM name> <operation>                      (XENAPI_* from the environment)
    lock_holder.py libvirt <uri> <instance dir> <uuid> <operation>

It takes the lock with the collection's own holders, prints ``held`` and sleeps; SIGTERM releases
the lock as a run that ends does, SIGKILL leaves the stale mark of a killed run.
"""

from __future__ import annotations

import os
import signal
import sys
import time

sys.path.insert(0, os.environ["NOVAOPS_COLLECTIONS_ROOT"])
# pylint: disable=wrong-import-position
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.connection import LibvirtConnection  # noqa: E402
from ansible_collections.novaops.compute.plugins.module_utils.libvirt.operation_lock import (  # noqa: E402
    LibvirtOperationLock)
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.operation_lock import XenOperationLock  # noqa: E402
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.session import XenAPIConnection  # noqa: E402


def _stop(_signum, _frame):
    raise KeyboardInterrupt


def hold(lock):
    with lock.held():
        print("held", flush=True)
        try:
            while True:
                time.sleep(60)
        except KeyboardInterrupt:
            pass


def main():
    signal.signal(signal.SIGTERM, _stop)
    if sys.argv[1] == "xen":
        name, operation = sys.argv[2:4]
        with XenAPIConnection(os.environ["XENAPI_URL"], os.environ["XENAPI_USERNAME"], os.environ["XENAPI_PASSWORD"],
                              ca_path=os.environ.get("XENAPI_CA_PATH")) as conn:
            ref, _rec = conn.find("VM", name=name)
            hold(XenOperationLock(conn, "VM", ref, "VM %s" % name, operation, {}))
    else:
        uri, instance_dir, uuid, operation = sys.argv[2:6]
        with LibvirtConnection(uri) as conn:
            hold(LibvirtOperationLock(conn, "Domain %s" % uuid, operation, {}, instance_dir=instance_dir, uuid=uuid))


if __name__ == "__main__":
    main()

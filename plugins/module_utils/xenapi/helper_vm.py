# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The helper VM: the machine the module runs on, into which VDIs are plugged to reach their bytes.

As Nova's compute VM did (vm_utils.vdi_attached): a VBD from the helper VM to the VDI,
VBD.plug, work on ``/dev/<VBD.device>``, then VBD.unplug and VBD.destroy, always, even
when the work or the unplug fails.
"""

from __future__ import annotations

import contextlib
import os
import time

from ansible.module_utils.basic import env_fallback

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.xenapi.markers import HELPER_VBD

HYPERVISOR_UUID_FILE = "/sys/hypervisor/uuid"
HELPER_TAG = HELPER_VBD


def helper_vm_argument_spec():
    return ArgumentSpec(dict(
        helper_vm_uuid=dict(type="str", fallback=(env_fallback, ["XENAPI_HELPER_VM_UUID"])),
        device_dir=dict(type="path", default="/dev", fallback=(env_fallback, ["XENAPI_DEVICE_DIR"])),
    ))


def local_vm_uuid(path=HYPERVISOR_UUID_FILE):
    """The UUID of the Xen guest this runs in, as Nova's get_this_vm_uuid read it."""
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except OSError:
        value = ""
    if not value or value == "00000000-0000-0000-0000-000000000000":
        raise NovaopsError("This host is not a Xen guest (%s is missing or empty), so it cannot plug disks "
                           "into itself; give helper_vm_uuid (or XENAPI_HELPER_VM_UUID)." % path)
    return value


class HelperVM:
    """Plug VDIs into the helper VM and hand out their device paths."""

    def __init__(self, conn, uuid, device_dir="/dev", timeout=60):
        self.conn = conn
        self.uuid = uuid or local_vm_uuid()
        self.device_dir = device_dir or "/dev"
        self.timeout = timeout
        self.ref, record = conn.find("VM", uuid=self.uuid, what="helper VM")
        if record["power_state"] != "Running":
            raise NovaopsError("The helper VM %s is %s; it must be running to plug disks into it."
                               % (self.uuid, record["power_state"].lower()))

    @classmethod
    def from_params(cls, conn, params):
        return cls(conn, params.get("helper_vm_uuid"), params.get("device_dir"), params.get("timeout") or 60)

    @contextlib.contextmanager
    def attached(self, vdi_ref, read_only=False, purpose="resize"):
        """Plug vdi_ref into the helper VM; yield the device path; unplug and destroy the VBD, always."""
        vbd = self.conn.call("VBD.create", dict(
            VM=self.ref, VDI=vdi_ref, userdevice="autodetect", bootable=False,
            mode="RO" if read_only else "RW", type="Disk", empty=False, unpluggable=True,
            other_config={HELPER_TAG: purpose}, qos_algorithm_type="", qos_algorithm_params={}))
        plugged = False
        failed = False
        try:
            self.conn.call("VBD.plug", vbd)
            plugged = True
            device = self.conn.call("VBD.get_device", vbd)
            path = os.path.join(self.device_dir, device)
            self._wait_for_device(path)
            yield path
        except BaseException:
            failed = True
            raise
        finally:
            release_vbd(self.conn, vbd, plugged, quiet=failed)

    def _wait_for_device(self, path):
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise NovaopsError("The plugged disk did not appear as %s within %ss; is device_dir right?"
                                   % (path, self.timeout))
            time.sleep(0.1)


def release_vbd(conn, vbd, plugged, quiet=False):
    """Unplug (forced if the clean unplug fails) and destroy; raise only when nothing else failed."""
    first = None
    if plugged:
        try:
            conn.call("VBD.unplug", vbd)
        except NovaopsError as exc:
            first = exc
            try:
                conn.call("VBD.unplug_force", vbd)
            except NovaopsError:
                pass
    try:
        conn.call("VBD.destroy", vbd)
    except NovaopsError as exc:
        first = first or exc
        try:
            conn.call("VBD.unplug_force", vbd)
            conn.call("VBD.destroy", vbd)
        except NovaopsError:
            pass
    if first is not None and not quiet:
        raise NovaopsError("Releasing the helper VM's disk failed: %s" % first.msg, **first.facts)

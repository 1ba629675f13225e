# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every key the collection writes into the ``other_config`` of XenAPI objects, in one place.

Each one is read back by another run (to resume, roll back, confirm or revert), by another
module or by the fleet inventory: these names are the collection's state on a XenServer pool,
and an existing pool holds them, so they never change.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.operation_lock import (
    XENAPI_KEY, XENAPI_RELEASES_KEY)

# -- VM.other_config -------------------------------------------------------------------------------
TASK_STATE = XENAPI_KEY                        # the operation lock (operation_lock.py, both drivers' rules)
TASK_RELEASES = XENAPI_RELEASES_KEY            # ... how many times it was released (xenapi/operation_lock.py)
DESIRED_STATE = "novaops_desired_state"        # the state xen_vm last brought the VM to
ATTACHED_VDIS = "novaops_attached_vdis"        # VDIs attached from elsewhere (never destroyed with the VM)
# a resize (xen_resize): the original keeps its power state from before for revert until the resize is
# over; the resized copy and the carrier of a shrunk root disk name the original's uuid
RESIZE_PRIOR_STATE = "novaops_resize_prior_state"
RESIZE_OF = "novaops_resize_of"
RESIZE_CARRIER_OF = "novaops_resize_carrier_of"
# a rescue (xen_rescue): the rescue VM names its instance; the instance names the rescue VM that an
# unrescue is destroying, until it runs again
RESCUE_OF = "novaops_rescue_of"
UNRESCUE_PENDING = "novaops_unrescue_pending"

# -- VDI.other_config ------------------------------------------------------------------------------
OWNER_VM = "novaops_owner_vm"                  # the VM that owns the disk (destroyed with it)
RESIZED_TO = "novaops_resized_to"              # on a shrunk disk's source: the new, smaller VDI
RESIZED_FROM = "novaops_resized_from"          # on that new VDI: its source
RESIZE_CLONE_OF = "novaops_resize_clone_of"    # the shrink's working clone of its source
MIGRATED_FROM = "novaops_migrated_from"        # an imported chain's leaf: the source leaf (vhd_migrate)
MIGRATED_CHAIN = "novaops_migrated_chain"      # ... the source chain, leaf first, comma-separated
MIGRATED_INSTANCE = "novaops_instance"         # ... the instance it was moved for
SNAPSHOT_BY = "novaops_snapshot_by"            # a snapshot VDI a run of xen_snapshot still needs
# a cached Glance image (xen_image): the leaf of the imported chain, cloned for each instance's root
IMAGE_ID = "novaops_image_id"                  # the Glance image it holds
IMAGE_CHECKSUM = "novaops_image_checksum"      # ... Glance's md5 checksum of that image's data
IMAGE_CACHED_AT = "novaops_image_cached_at"    # ... when it was imported (UTC, ISO 8601): the cache's age

# -- VBD.other_config ------------------------------------------------------------------------------
HELPER_VBD = "novaops_helper_vbd"              # a VBD that plugs a disk into the helper VM (its purpose)

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Idempotence of a snapshot module by image name plus a marker property.

An image of that name carrying the marker was made by the module: an active one means the
snapshot exists; any other status is a half image of an earlier failed run, deleted before
the next upload.  Two active ones cannot be told apart, and the module refuses.
"""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

MARKER = "novaops_snapshot"


def image_argument_spec():
    """The options of the image a snapshot module makes (doc fragment snapshot_image)."""
    return ArgumentSpec(dict(
        properties=dict(type="dict", default={}),
        visibility=dict(type="str", default="private", choices=["private", "shared", "community", "public"]),
    ))


def plan_marked_image(plan, glance, name, images, marker_value):
    """The active image among ``images`` (all named ``name``, all marked), or None; plans the
    deletion of the half images.  Refuses when more than one is active."""
    active = [img for img in images if img.get("status") == "active"]
    if len(active) > 1:
        raise NovaopsError("%d active images are named %r with %s=%s (ids %s); delete all but one."
                           % (len(active), name, MARKER, marker_value, ", ".join(img["id"] for img in active)))
    for img in images:
        if img.get("status") != "active":
            plan.add("delete_stale_image", glance.delete_image, img["id"], detail=name)
    return active[0] if active else None


def plan_deletion(plan, glance, images):
    """state=absent: every image of ``images`` (all marked) is deleted; none is left after."""
    for img in images:
        plan.add("delete_image", glance.delete_image, img["id"], detail=img["name"])
    return dict(images=[])

# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Who depends on a cached image VDI, from VDI records shaped as xapi's after VDI.clone: the cached
leaf's data becomes a hidden base copy with the cached VDI and the clone as its two children."""

from __future__ import annotations

from ansible_collections.novaops.compute.plugins.module_utils.xenapi.image_cache import (
    ancestry, cached_images, dependents)


def vdi(uuid, parent=None, sr="OpaqueRef:sr", managed=True, image=None, cached_at=""):
    other = {"novaops_image_id": image, "novaops_image_cached_at": cached_at} if image else {}
    return "OpaqueRef:" + uuid, dict(uuid=uuid, SR=sr, managed=managed, other_config=other,
                                     sm_config={"vhd-parent": parent} if parent else {})


def records(*items):
    return dict(items)


def test_a_clone_of_the_cache_depends_on_it():
    # image chain: base (hidden) <- cache; a clone turned the cache's data into B, parent of cache and clone
    vdis = records(vdi("base", managed=False), vdi("B", "base", managed=False),
                   vdi("cache", "B", image="img"), vdi("clone", "B"), vdi("other"))
    assert [rec["uuid"] for _r, rec in dependents(vdis, "OpaqueRef:cache")] == ["clone"]


def test_snapshots_of_a_clone_depend_on_it_too():
    vdis = records(vdi("B", managed=False), vdi("cache", "B", image="img"), vdi("C", "B", managed=False),
                   vdi("clone", "C"), vdi("snap", "C"))
    assert sorted(rec["uuid"] for _r, rec in dependents(vdis, "OpaqueRef:cache")) == ["clone", "snap"]


def test_no_clone_no_dependent_and_other_srs_do_not_count():
    vdis = records(vdi("base", managed=False), vdi("cache", "base", image="img"),
                   vdi("elsewhere", "base", sr="OpaqueRef:sr2"))
    assert dependents(vdis, "OpaqueRef:cache") == []


def test_the_cached_images_of_an_sr_oldest_first():
    vdis = records(vdi("new", image="img", cached_at="2026-12-02T00:00:00Z"),
                   vdi("old", image="img", cached_at="2026-12-01T00:00:00Z"),
                   vdi("img2", image="other"), vdi("plain"), vdi("far", image="img", sr="OpaqueRef:sr2"))
    assert [rec["uuid"] for _r, rec in cached_images(vdis, "OpaqueRef:sr", "img")] == ["old", "new"]
    assert len(cached_images(vdis, "OpaqueRef:sr")) == 3


def test_ancestry_stops_at_a_loop_or_a_missing_parent():
    by_uuid = dict((rec["uuid"], (ref, rec)) for ref, rec in (vdi("a", "b"), vdi("b", "a"), vdi("c", "gone")))
    assert ancestry(by_uuid, "a") == ["a", "b"]
    assert ancestry(by_uuid, "c") == ["c", "gone"]

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  clear_stale_lock:
    description:
      - Clear the operation lock a killed run left on the instance, then run (as C(nova reset-state) did).
        Only a stale mark is cleared - see O(stale_lock_age) - never that of an operation still at work.
      - Clearing is a change of its own (action C(clear_stale_lock)), also when nothing else is to be done.
        When the stale mark is that of M(novaops.compute.xen_vdi_resize), what the killed run left behind
        goes too (its VBDs on the helper VM, the clone and the unfinished new VDI).
    type: bool
    default: false
  stale_lock_age:
    description:
      - Seconds after which the mark of an owner on another host counts as stale (the module cannot ask
        that host whether its process still runs). V(0) makes every such mark stale, for an operator who
        knows that the run is dead.
      - A mark of this host is stale as soon as its owner process is gone (or the lock file is locked by
        nobody), whatever its age.
    type: int
    default: 86400
notes:
  - B(Operation lock), as Nova's C(task_state) - a run that changes the instance marks it while it works
    and removes the mark at the end, whatever happens; a run with nothing to do, and check mode, write
    nothing. A run that would change an instance another operation marks fails, naming that operation,
    its owner (C(host:pid)) and when it started, and changes nothing.
  - The mark is XenAPI C(other_config:novaops_task_state) (JSON C(operation), C(owner), C(started_at)), and
    each release of a VM's mark adds one to C(other_config:novaops_task_releases) (how a run tells that another
    one changed the VM between its first read and its mark); for
    libvirt a C(<task/>) element in the domain's metadata (namespace C(https://novaops.example/compute/1/task))
    and the file C(novaops-task.lock) in the instance directory, held with an exclusive C(flock) - the
    lock between processes on the hypervisor.
  - A hard reboot takes a stale mark over without O(clear_stale_lock), and says so in RV(operation_lock)
    and a warning.
'''

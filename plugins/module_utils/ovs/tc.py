# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""OVS QoS queues in the kernel's tc: queue id ranges and the class a queue becomes (``tc class show``
parsed, for what the kernel really enforces, is tc_show.py: a run that reads no tc class does not compile it).

  QUEUE_ID_MAX, KERNEL_QUEUE_ID_MAX, KERNEL_QOS_TYPES
  htb_class_id(queue_id)        '1:<hex(queue_id+1)>'
"""

from __future__ import annotations

# OVS queue ids are 32-bit.  linux-htb and linux-hfsc map queue id q to the kernel class
# 1:<hex(q+1)>; the class minor is 16 bits, 1:fffe is OVS's own root class, and OVS accepts
# only 0xf000 queues on those types (HTB_N_QUEUES / HFSC_N_QUEUES in netdev-linux.c), so
# the ids it really configures are 0..61439.
QUEUE_ID_MAX = 4294967295
KERNEL_QUEUE_ID_MAX = 0xf000 - 1
KERNEL_QOS_TYPES = ("linux-htb", "linux-hfsc")


def htb_class_id(queue_id):
    """The kernel class OVS's linux-htb / linux-hfsc makes for a queue: 1:<hex(queue_id+1)>."""
    return "1:%x" % (int(queue_id) + 1)

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
attributes:
  check_mode:
    support: full
    description: Resolves the console and reports what it would issue; issues no token (C(url) is empty).
  diff_mode:
    support: none
    description: Nothing on the hypervisor or the pool changes.
options:
  proxy_url:
    description:
      - The address browsers reach the console proxy at, for example C(https://console.example.com:6080/)
        (see the role C(novaops.compute.console_proxy)).
      - If not set, the environment variable E(NOVAOPS_CONSOLE_PROXY_URL) is used.
    type: str
  token_key:
    description:
      - The key the console proxy verifies tokens with (HMAC-SHA256), at least 32 bytes.
      - If not set, the environment variable E(NOVAOPS_CONSOLE_KEY) is used.
    type: str
  ttl:
    description: Seconds the console link may be used in (once) before it expires, 1 to 86400.
    type: int
    default: 600
  page:
    description: The noVNC page of the link, as Debian's C(novnc) package installs it.
    type: str
    default: vnc_lite.html
notes:
  - The link is signed, not stored; the proxy keeps only a hash of each used token's id, so a link
    connects once. Its claims (instance, console address) are readable by whoever holds it; no session
    id or password is in it.
'''

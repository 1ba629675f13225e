# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The console options both console modules share and the link they return.

The URL is the noVNC page the console proxy serves, with the WebSocket path carrying the token
(``vnc_lite.html?path=websockify%3Ftoken%3D<token>``): the page opens
``wss://<proxy>/websockify?token=<token>``, which the proxy's token plugin reads.  The token
is meant for the operator who asked; the result shows it in ``url`` only.
"""

from __future__ import annotations

import datetime
import ipaddress
from urllib.parse import quote, urlsplit

from ansible.module_utils.basic import env_fallback

from ansible_collections.novaops.compute.plugins.module_utils.common import console_token
from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError

DEFAULT_PAGE = "vnc_lite.html"


def console_argument_spec():
    """Options of doc fragment novaops.compute.console."""
    return ArgumentSpec(dict(
        proxy_url=dict(type="str", fallback=(env_fallback, ["NOVAOPS_CONSOLE_PROXY_URL"])),
        token_key=dict(type="str", no_log=True, fallback=(env_fallback, ["NOVAOPS_CONSOLE_KEY"])),
        ttl=dict(type="int", default=console_token.DEFAULT_TTL),
        page=dict(type="str", default=DEFAULT_PAGE),
    ))


def check_options(params):
    """A NovaopsError naming the option an operator set wrong, before anything is looked up."""
    url = params.get("proxy_url")
    if not url:
        raise NovaopsError("No console proxy URL: set proxy_url (or NOVAOPS_CONSOLE_PROXY_URL), the address "
                           "browsers reach the console proxy at, e.g. https://console.example.com:6080/.")
    try:
        parts = urlsplit(url)
        malformed = parts.port is not None and not parts.port   # (port raises on a non-number, too)
    except ValueError:          # an unclosed IPv6 bracket, a port out of range
        parts, malformed = None, True
    if malformed or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment or \
            "@" in parts.netloc:
        raise NovaopsError("proxy_url %r is not an http(s) URL of a host without query, fragment or credentials."
                           % url[:200])
    ttl = params.get("ttl")
    if ttl is None or ttl < 1 or ttl > console_token.MAX_TTL:
        raise NovaopsError("ttl must be 1 to %d seconds, not %s." % (console_token.MAX_TTL, ttl))
    page = params.get("page") or ""
    if not page or "/" in page or "?" in page or "#" in page or not page.endswith(".html"):
        raise NovaopsError("page %r is not the file name of a noVNC page (such as vnc_lite.html or vnc.html)."
                           % page[:200])
    problem = console_token.key_problem(params.get("token_key"))
    if problem:
        raise NovaopsError("%s: set token_key (or NOVAOPS_CONSOLE_KEY) to the key the console proxy was given, "
                           "at least %d bytes." % (problem[0].upper() + problem[1:], console_token.MIN_KEY_BYTES))


def is_loopback(address):
    if not address:
        return False
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(address):
    return address in (None, "", "0.0.0.0", "::", "[::]")


def iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def issue_link(params, driver, instance, target, now, check_mode):
    """The result of a console module: url (empty in check mode: nothing is issued), expires_at,
    protocol, instance, target.  Never ``changed``: a token is signed, not stored, and nothing on
    the hypervisor changes, so a second run is as converged as the first."""
    ttl = params["ttl"]
    result = dict(changed=False, protocol="vnc", instance=instance, target=target,
                  expires_at=iso(int(now) + ttl), url="")
    if check_mode:
        return result
    token, claims = console_token.issue(params["token_key"], driver, instance, target, ttl, now)
    base = params["proxy_url"].rstrip("/")
    result["url"] = "%s/%s?path=%s" % (base, params["page"], quote("websockify?token=" + token, safe=""))
    result["expires_at"] = iso(claims["exp"])
    return result

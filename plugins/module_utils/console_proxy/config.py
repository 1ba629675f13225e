# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The console proxy's settings: a JSON file (the console_proxy role writes it), secrets in
files of their own or the environment, never in the settings file itself.

Keys: ``listen`` (address, default 0.0.0.0), ``port`` (6080), ``web`` (noVNC's pages,
/usr/share/novnc), ``cert``/``key`` (TLS for browsers; none: plain ws://, for a proxy behind a
TLS front end), ``token_key_file`` (else NOVAOPS_CONSOLE_KEY), ``allowed_origins`` (the
``Origin`` values browsers may open a console from; scheme://host[:port]), ``used_tokens``
(``memory`` or a ``redis://`` URL), ``connect_timeout`` (seconds, 10), ``libvirt_uris``
(the libvirt URIs a token may name, default qemu:///system), ``xenapi`` (``ca_path``,
``validate_certs`` default true, ``pools``: {pool URL: {username, password_file}} or
{pool URL: username} with the password in ``password_dir``/<sha1 of the URL>.password;
XENAPI_PASSWORD is the fallback password), ``log_level``.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.novaops.compute.plugins.module_utils.common import console_token


class ConfigError(Exception):
    pass


def _secret(path, env_name, what):
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ConfigError("Cannot read the %s file %s: %s" % (what, path, exc.strerror)) from exc
    return os.environ.get(env_name, "")


def password_file(directory, url):
    """Where the console_proxy role puts a pool's password: named by its URL's SHA-1."""
    if not directory:
        return None
    return os.path.join(directory, hashlib.sha1(url.encode("utf-8")).hexdigest() + ".password")


class Config:
    def __init__(self, data):
        if not isinstance(data, dict):
            raise ConfigError("the settings must be a JSON object")
        self.listen = data.get("listen", "0.0.0.0")
        self.port = int(data.get("port", 6080))
        self.web = data.get("web", "/usr/share/novnc")
        self.cert = data.get("cert")
        self.key = data.get("key")
        self.token_key = _secret(data.get("token_key_file"), "NOVAOPS_CONSOLE_KEY", "token key")
        problem = console_token.key_problem(self.token_key)
        if problem:
            raise ConfigError("%s: give token_key_file or NOVAOPS_CONSOLE_KEY" % problem)
        self.allowed_origins = [o.rstrip("/").lower() for o in data.get("allowed_origins") or []]
        if not self.allowed_origins:
            raise ConfigError("allowed_origins is empty: name the pages' origins (e.g. https://console.example.com:6080)")
        self.used_tokens = data.get("used_tokens", "memory")
        self.connect_timeout = float(data.get("connect_timeout", 10))
        self.libvirt_uris = list(data.get("libvirt_uris") or ["qemu:///system"])
        xen = data.get("xenapi") or {}
        self.xenapi_ca_path = xen.get("ca_path")
        self.xenapi_validate_certs = bool(xen.get("validate_certs", True))
        self.xenapi_pools = {}
        for url, pool in (xen.get("pools") or {}).items():
            if not isinstance(pool, dict):
                pool = dict(username=pool, password_file=password_file(xen.get("password_dir"), url))
            self.xenapi_pools[url] = dict(username=pool.get("username") or "root",
                                          password=_secret(pool.get("password_file"), "XENAPI_PASSWORD",
                                                           "XenAPI password"))
        self.log_level = data.get("log_level", "INFO")
        if bool(self.cert) != bool(self.key):
            raise ConfigError("give both cert and key (TLS for browsers), or neither")


def load(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return Config(json.load(handle))
    except OSError as exc:
        raise ConfigError("Cannot read the settings file %s: %s" % (path, exc.strerror)) from exc
    except ValueError as exc:
        raise ConfigError("The settings file %s is not JSON: %s" % (path, exc)) from exc

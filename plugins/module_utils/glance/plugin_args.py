# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How the dom0 ``glance`` plugin reaches Glance: the arguments a module passes for its client.

The plugin verifies Glance's certificate as the module does: against the CA bundle of
``glance.ca_path`` (or the cloud's ``cacert``), passed as content so that the host needs no copy.
"""

from __future__ import annotations

import json

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError


def ca_pem(glance):
    """The CA bundle Glance is verified against, as PEM text for the dom0 plugin (None: the system's CAs)."""
    if not glance.ca_path or not glance.validate_certs:
        return None
    try:
        with open(glance.ca_path) as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise NovaopsError("glance.ca_path %r cannot be read for the dom0 plugin: %s" % (glance.ca_path, exc))


def plugin_glance_args(glance, timeout=None):
    """``glance_url``, ``headers``, ``validate_certs``, ``timeout`` (and ``ca_cert``) as plugin arguments."""
    args = dict(glance_url=glance.endpoint, headers=json.dumps(glance.auth_headers()),
                validate_certs=str(glance.validate_certs).lower(), timeout=str(timeout or glance.timeout))
    pem = ca_pem(glance)
    if pem:
        args["ca_cert"] = pem
    return args

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The TLS client context of every https connection the collection opens (XenAPI, Glance, image URLs)."""

from __future__ import annotations

import ssl

from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError


def client_context(ca_path=None, validate_certs=True):
    """Verification on by default, against ca_path when given (else the system's CAs).

    A ca_path that is not a readable bundle of PEM certificates is a NovaopsError naming it,
    not an OSError or SSLError escaping as a traceback.
    """
    try:
        context = ssl.create_default_context(cafile=ca_path or None)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise NovaopsError("ca_path %r is not a readable file of PEM CA certificates: %s" % (ca_path, exc),
                           ca_path=ca_path) from exc
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Console tokens: what the console modules issue and the console proxy verifies.

A token is ``<claims>.<signature>``, both base64url without padding: the claims a JSON object
(version, a random ``jti`` of 128 bits, issued-at and expiry in UNIX seconds, the driver, the
instance and its console target), the signature HMAC-SHA256 over a fixed context string and
the encoded claims, with a key the modules and the proxy share.  So the proxy stores no token
(it recomputes the signature); it keeps only a hash of each used ``jti`` until its expiry,
which makes a token single use.  The claims are readable by whoever holds the URL (an
address, a port, a console reference - no session, no password); only the key can make or
alter one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

VERSION = 1
CONTEXT = b"novaops.compute console token v1."
MIN_KEY_BYTES = 32
DEFAULT_TTL = 600
MAX_TTL = 24 * 3600
MAX_TOKEN_CHARS = 4096


class TokenError(Exception):
    """A token the proxy must refuse; ``str()`` is the reason a person reads (no token in it)."""


def key_problem(key):
    """Why ``key`` cannot sign tokens, or None."""
    if not key:
        return "no console token key is set"
    if len(key.encode("utf-8")) < MIN_KEY_BYTES:
        return "the console token key has fewer than %d bytes" % MIN_KEY_BYTES
    return None


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key, encoded_claims):
    return hmac.new(key.encode("utf-8"), CONTEXT + encoded_claims.encode("ascii"), hashlib.sha256).digest()


def issue(key, driver, instance, target, ttl, now):
    """``(token, claims)``: a new token for ``instance`` (a dict naming it) and its console ``target``."""
    problem = key_problem(key)
    if problem:
        raise TokenError(problem)
    claims = dict(v=VERSION, jti=_b64(os.urandom(16)), iat=int(now), exp=int(now) + int(ttl),
                  drv=driver, inst=instance, tgt=target)
    encoded = _b64(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return "%s.%s" % (encoded, _b64(_signature(key, encoded))), claims


def verify(key, token, now):
    """The claims of a token signed with ``key`` and not expired at ``now``; TokenError otherwise.

    Single use is not decided here: the caller records ``jti_hash(claims)`` once it connects.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenError("the console link is not a valid console token")
    encoded, signature = token.split(".")
    try:
        given = _unb64(signature)
    except (ValueError, TypeError):
        raise TokenError("the console link is not a valid console token")
    if not hmac.compare_digest(given, _signature(key, encoded)):
        raise TokenError("the console link was not issued by this console service, or was altered")
    try:
        claims = json.loads(_unb64(encoded).decode("utf-8"))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise TokenError("the console link is not a valid console token")
    if not isinstance(claims, dict) or claims.get("v") != VERSION:
        raise TokenError("the console link is of an unknown token version")
    if not isinstance(claims.get("exp"), int) or now >= claims["exp"]:
        raise TokenError("the console link has expired; ask for a new one")
    return claims


def jti_hash(claims):
    """What the proxy records of a used token: a hash of its id, never the token."""
    return hashlib.sha256(("jti:" + str(claims.get("jti"))).encode("utf-8")).hexdigest()

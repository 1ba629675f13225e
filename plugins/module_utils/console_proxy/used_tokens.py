# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where the console proxy records the tokens that connected: what makes a token single use.

Only a hash of a token's id is kept (console_token.jti_hash), until the token's expiry; no
token is stored.  ``claim(hash, expires)`` is atomic: of two connections with one token, one
gets True.

* ``MemoryStore``: in the proxy process.  Single use holds for one proxy process (all its
  connections are threads); proxies behind one address each keep their own record, and a
  restarted proxy has forgotten what was used, so a token may connect once per process until
  it expires.
* ``RedisStore`` (``redis://`` URL): ``SET key NX EXAT expiry`` on a Redis every proxy shares.
  Single use holds across proxies and their restarts, for as long as Redis keeps its keys
  (persistence and failover are Redis's; a Redis that lost its data forgets as a restarted
  proxy does).  The proxy refuses connections while Redis cannot be reached, never lets them
  through unrecorded.
"""

from __future__ import annotations

import threading
import time


class StoreUnavailable(Exception):
    """The used-token record cannot be read or written: the connection is refused."""


class MemoryStore:
    guarantee = "single use per proxy process (forgotten when the proxy restarts)"

    def __init__(self):
        self._used = {}
        self._lock = threading.Lock()

    def claim(self, key, expires):
        now = time.time()
        with self._lock:
            if len(self._used) > 1024:
                self._used = dict((k, exp) for k, exp in self._used.items() if exp > now)
            if key in self._used and self._used[key] > now:
                return False
            self._used[key] = expires
            return True


class RedisStore:
    guarantee = "single use across every proxy sharing the Redis (as long as Redis keeps its keys)"
    PREFIX = "novaops-console:used:"

    def __init__(self, url):
        try:
            import redis    # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise StoreUnavailable("used_tokens is a redis:// URL but the redis Python package is missing "
                                   "(pip install redis)") from exc
        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def claim(self, key, expires):
        try:
            return bool(self._client.set(self.PREFIX + key, b"1", nx=True, exat=max(int(expires), int(time.time()) + 1)))
        except self._errors as exc:
            raise StoreUnavailable("the used-token store (Redis) cannot be reached: %s" % type(exc).__name__) from exc


def make_store(spec):
    """``memory`` (default) or a ``redis://`` / ``rediss://`` URL."""
    if not spec or spec == "memory":
        return MemoryStore()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(spec)
    raise ValueError("used_tokens must be 'memory' or a redis:// URL, not %r" % spec[:80])

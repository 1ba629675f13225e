# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""URLs as they may be shown: without the credentials a user put in them.

An image URL or a Glance endpoint may carry ``user:password@`` or, for a pre-signed object
URL, a signature or token in its query string.  Whatever a module shows - a message, a
warning, a result, the recorded desired state, its own arguments - goes through ``redact``:
the userinfo becomes ``***`` and the values of query parameters named like a secret become
``***``.  Everything else of the URL is left exactly as it was, so a URL without secrets is
shown (and identifies an image) unchanged.
"""

from __future__ import annotations

import functools
import re

MASK = "***"
# The patterns, compiled on first use (SECRET_PARAM, URL_IN_TEXT and URL_TAIL are attributes of this
# module all the same): re's compiler takes milliseconds, and every module imports this file on every
# run, most of them with no URL to show.
PATTERNS = dict(
    # query parameters whose value is a credential, by the last word of their name: pre-signed object URLs
    # (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, Swift's temp_url_sig, Azure's sig), OAuth's
    # access_token, api_key, password
    SECRET_PARAM=r"(?i)^(.*[-_.])?(sig|signature|token|secret|password|passwd|pwd|key|credential)$",
    URL_IN_TEXT=r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+",
    # what redact_text finds of a URL after '://' (SCHEME_CHARS before it)
    URL_TAIL=r"[^\s'\"<>`]+",
)
SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
# schemes where a user name alone may be a credential (https://<token>@host/...)
HTTP_SCHEMES = ("http", "https", "ftp", "ftps")


@functools.lru_cache(maxsize=None)
def pattern(name):
    """The compiled regex PATTERNS[name]."""
    return re.compile(PATTERNS[name])


def __getattr__(name):
    if name in PATTERNS:
        return pattern(name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def redact_url(url):
    """The URL with its userinfo and secret query values replaced by ``***``; anything else unchanged."""
    if not isinstance(url, str) or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    end = len(rest)
    for mark in "/?#":
        where = rest.find(mark)
        if where != -1:
            end = min(end, where)
    netloc, tail = rest[:end], rest[end:]
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo or scheme.lower() in HTTP_SCHEMES:
            netloc = "%s@%s" % (MASK, host)
    if "?" in tail:
        path, query = tail.split("?", 1)
        fragment = ""
        if "#" in query:
            query, fragment = query.split("#", 1)
            fragment = "#" + fragment
        query = "&".join(_redact_param(item) for item in query.split("&"))
        tail = "%s?%s%s" % (path, query, fragment)
    return "%s://%s%s" % (scheme, netloc, tail)


def _redact_param(item):
    name, sep, value = item.partition("=")
    if sep and value and pattern("SECRET_PARAM").search(name):
        return "%s=%s" % (name, MASK)
    return item


def redact_text(text):
    """Text with every URL in it (what URL_IN_TEXT matches) redacted.

    Found from each '://' backwards rather than by URL_IN_TEXT itself: the regex tries every start in a
    long run of scheme characters and scans to its end each time - quadratic, minutes for a 100 kB name."""
    if not isinstance(text, str) or "://" not in text:
        return text
    out = []
    done = 0                        # text[:done] is in out
    found = text.find("://")
    while found != -1:
        start = found
        while start > done and text[start - 1] in SCHEME_CHARS:
            start -= 1
        while start < found and not text[start].isalpha():
            start += 1              # the scheme begins with its first letter
        tail = pattern("URL_TAIL").match(text, found + 3)
        if start == found or tail is None:
            found = text.find("://", found + 1)
            continue
        out.append(text[done:start])
        out.append(redact_url(text[start:tail.end()]))
        done = tail.end()
        found = text.find("://", done)
    out.append(text[done:])
    return "".join(out)


def redact(value):
    """A copy of a result (dicts, lists, strings, anything else as is) with every URL in it redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return dict((key, redact(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    return value


def url_secrets(url):
    """The secret parts of a URL (password, userinfo, secret query values): what must never be shown."""
    found = set()
    if not isinstance(url, str) or "://" not in url:
        return found
    shown = redact_url(url)
    if shown == url:
        return found
    rest = url.split("://", 1)[1]
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        found.add(userinfo)
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    query = rest.split("?", 1)[1].split("#", 1)[0] if "?" in rest else ""
    for item in query.split("&"):
        name, sep, value = item.partition("=")
        if sep and value and pattern("SECRET_PARAM").search(name):
            found.add(value)
    return set(s for s in found if s)

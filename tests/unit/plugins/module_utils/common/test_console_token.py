# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Console tokens (#23): signed, expiring, bound to instance and target, refused when forged,
altered or expired; the link a module returns survives the collection's redaction whole."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common import console_token as ct
from ansible_collections.novaops.compute.plugins.module_utils.common.console_link import (
    check_options, is_loopback, is_wildcard, issue_link)
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError
from ansible_collections.novaops.compute.plugins.module_utils.common.redact import redact

KEY = "k3y-" * 10
INSTANCE = dict(driver="libvirt", uuid="6f1c2f8e-5b0e-4c57-9b39-0f1e2d3c4b5a", name="web-01")
TARGET = dict(uri="qemu:///system", host="127.0.0.1", port=5901, listen="127.0.0.1")
NOW = 1_800_000_000


def params(**over):
    p = dict(proxy_url="https://console.example.com:6080/", token_key=KEY, ttl=600, page="vnc_lite.html")
    p.update(over)
    return p


def test_issued_token_verifies_and_carries_its_binding():
    token, claims = ct.issue(KEY, "libvirt", INSTANCE, TARGET, 600, NOW)
    got = ct.verify(KEY, token, NOW + 599)
    assert got == claims
    assert got["inst"] == INSTANCE and got["tgt"] == TARGET and got["drv"] == "libvirt"
    assert got["exp"] == NOW + 600
    assert len(base64.urlsafe_b64decode(got["jti"] + "==")) == 16       # 128 random bits


def test_each_token_has_its_own_id():
    tokens = [ct.issue(KEY, "libvirt", INSTANCE, TARGET, 600, NOW)[1]["jti"] for _n in range(50)]
    assert len(set(tokens)) == 50
    claims = ct.issue(KEY, "libvirt", INSTANCE, TARGET, 600, NOW)[1]
    assert ct.jti_hash(claims) != claims["jti"] and claims["jti"] not in ct.jti_hash(claims)


def test_expired_token_is_refused():
    token = ct.issue(KEY, "libvirt", INSTANCE, TARGET, 600, NOW)[0]
    with pytest.raises(ct.TokenError, match="expired"):
        ct.verify(KEY, token, NOW + 600)


def altered(token, **changes):
    encoded, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    claims.update(changes)
    new = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return "%s.%s" % (new, signature)


@pytest.mark.parametrize("forge", [
    lambda t: altered(t, exp=NOW + 10 ** 6),
    lambda t: altered(t, tgt=dict(TARGET, port=5902)),
    lambda t: altered(t, inst=dict(INSTANCE, uuid="00000000-0000-0000-0000-000000000000")),
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: ct.issue("another key of more than 32 bytes!!", "libvirt", INSTANCE, TARGET, 600, NOW)[0],
])
def test_forged_or_altered_token_is_refused(forge):
    token = ct.issue(KEY, "libvirt", INSTANCE, TARGET, 600, NOW)[0]
    with pytest.raises(ct.TokenError, match="not issued by this console service|altered"):
        ct.verify(KEY, forge(token), NOW)


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "!!!.???", "x" * 5000, None, "eyJ2IjoxfQ.AAAA"])
def test_junk_is_refused_without_a_traceback(junk):
    with pytest.raises(ct.TokenError):
        ct.verify(KEY, junk, NOW)


def test_reasons_never_show_the_token():
    token = ct.issue(KEY, "libvirt", INSTANCE, TARGET, 600, NOW)[0]
    for bad, when in ((token, NOW + 601), (altered(token, exp=1), NOW)):
        with pytest.raises(ct.TokenError) as err:
            ct.verify(KEY, bad, when)
        assert token.split(".")[1] not in str(err.value) and token.split(".")[0] not in str(err.value)


def test_link_opens_the_novnc_page_with_the_token_and_survives_redaction():
    result = issue_link(params(), "libvirt", INSTANCE, TARGET, NOW, check_mode=False)
    url = urlsplit(result["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "console.example.com:6080", "/vnc_lite.html")
    path = parse_qs(url.query)["path"][0]
    assert path.startswith("websockify?token=")
    claims = ct.verify(KEY, path[len("websockify?token="):], NOW)
    assert claims["tgt"] == TARGET
    assert result["expires_at"] == "2027-01-15T08:10:00Z"
    assert redact(result) == result                 # the operator gets the link whole
    assert KEY not in json.dumps(result)


def test_check_mode_issues_nothing():
    result = issue_link(params(), "libvirt", INSTANCE, TARGET, NOW, check_mode=True)
    assert result["url"] == "" and not result["changed"] and result["target"] == TARGET


@pytest.mark.parametrize("over, words", [
    (dict(proxy_url=None), "proxy_url"),
    (dict(proxy_url="ftp://h/"), "proxy_url"),
    (dict(proxy_url="https://u:p@h/"), "proxy_url"),
    (dict(proxy_url="https://h/?a=1"), "proxy_url"),
    (dict(proxy_url="http://[::1"), "proxy_url"),
    (dict(proxy_url="https://h:99999/"), "proxy_url"),
    (dict(proxy_url="https://h:x/"), "proxy_url"),
    (dict(ttl=0), "ttl"),
    (dict(ttl=86401), "ttl"),
    (dict(page="../etc/passwd"), "page"),
    (dict(token_key=None), "token_key"),
    (dict(token_key="x" * 31), "token_key"),
])
def test_bad_options_are_named(over, words):
    with pytest.raises(NovaopsError, match=words):
        check_options(params(**over))


def test_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("10.0.0.1") and not is_loopback("hv1.example.com") and not is_loopback(None)
    assert is_wildcard("0.0.0.0") and is_wildcard("::") and is_wildcard(None) and not is_wildcard("10.0.0.1")

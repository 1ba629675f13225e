# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""redact: URLs shown without the credentials in them, everything else of them unchanged (#18)."""

from __future__ import annotations

import random
import time

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.common.redact import (
    URL_IN_TEXT, redact, redact_text, redact_url, url_secrets)


@pytest.mark.parametrize("url, shown", [
    ("http://u:pw@127.0.0.1:9292/v2", "http://***@127.0.0.1:9292/v2"),
    ("https://token@images.example.com/x.qcow2", "https://***@images.example.com/x.qcow2"),
    ("https://h/x.qcow2?X-Amz-Credential=AK&X-Amz-Signature=ab12&X-Amz-Expires=60",
     "https://h/x.qcow2?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60"),
    ("https://h/v1/AUTH_a/c/o?temp_url_sig=da39&temp_url_expires=1", "https://h/v1/AUTH_a/c/o?temp_url_sig=***&temp_url_expires=1"),
    ("https://h/o?sv=2020&sig=abc%2F&se=1#frag", "https://h/o?sv=2020&sig=***&se=1#frag"),
    ("qemu+ssh://root@hv2/system", "qemu+ssh://root@hv2/system"),             # a user alone: not a secret there
    ("qemu+ssh://root:pw@hv2/system", "qemu+ssh://***@hv2/system"),
    ("http://[::1]:80/a?design=1&monkey=2", "http://[::1]:80/a?design=1&monkey=2"),
    ("/var/lib/nova/instances", "/var/lib/nova/instances"),
])
def test_urls_are_shown_without_secrets_and_otherwise_unchanged(url, shown):
    assert redact_url(url) == shown
    assert redact_url(shown) == shown


def test_secrets_of_a_url():
    assert url_secrets("http://u:pw@h/x?token=t1") == {"u:pw", "pw", "t1"}
    assert url_secrets("http://h/x") == set()


def test_urls_in_text_and_in_results():
    text = "Glance at http://u:pw@127.0.0.1:1 is unreachable (GET http://u:pw@127.0.0.1:1/v2/images/x)."
    assert redact_text(text) == ("Glance at http://***@127.0.0.1:1 is unreachable "
                                 "(GET http://***@127.0.0.1:1/v2/images/x).")
    result = dict(msg="ok", image=dict(id="https://u:pw@h/i"), list=["https://u:pw@h/j", 3, None], n=1)
    assert redact(result) == dict(msg="ok", image=dict(id="https://***@h/i"), list=["https://***@h/j", 3, None], n=1)


def test_redact_text_finds_what_the_url_pattern_matches():
    rng = random.Random(25)
    pieces = ["://", "http", "https", "u:p@", "@", "h", "1", "+", ".", "-", " ", "'", "?token=t", "&a=1", "#f", "/",
              "x", "é"]
    for _case in range(3000):
        text = "".join(rng.choice(pieces) for _piece in range(rng.randint(1, 14)))
        expected = URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)
        assert redact_text(text) == expected, text


def test_redact_text_of_a_long_name_before_a_url_takes_no_time():
    # the pattern alone tries every start in the run of name characters: minutes for 100 kB
    text = "No domain 'bi-%s' on qemu+tcp://u:p@hv2/system." % ("x" * 100000)
    started = time.monotonic()
    assert redact_text(text).endswith("qemu+tcp://***@hv2/system.")
    assert time.monotonic() - started < 1

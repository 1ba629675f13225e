# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The proxy's in-memory used-token record (#23): one claim wins, also among threads at once;
a claim is forgotten after its expiry; the settings refuse what would weaken the checks."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ansible_collections.novaops.compute.plugins.module_utils.console_proxy import config
from ansible_collections.novaops.compute.plugins.module_utils.console_proxy.used_tokens import (
    MemoryStore, make_store)


def test_a_token_id_is_claimed_once():
    store = MemoryStore()
    later = time.time() + 60
    assert store.claim("a", later) is True
    assert store.claim("a", later) is False
    assert store.claim("b", later) is True


def test_one_of_many_threads_wins():
    store = MemoryStore()
    wins = []
    start = threading.Event()

    def claim():
        start.wait()
        wins.append(store.claim("same", time.time() + 60))
    threads = [threading.Thread(target=claim) for _n in range(32)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1 and len(wins) == 32


def test_an_expired_claim_is_forgotten():
    store = MemoryStore()
    assert store.claim("old", time.time() - 1)
    assert store.claim("old", time.time() + 60)


def test_store_kinds():
    assert isinstance(make_store("memory"), MemoryStore) and isinstance(make_store(None), MemoryStore)
    with pytest.raises(ValueError, match="used_tokens"):
        make_store("file:///tmp/x")


def settings(tmp_path, **over):
    key = tmp_path / "key"
    key.write_text("k" * 40)
    data = dict(token_key_file=str(key), allowed_origins=["https://console.example.com:6080"])
    data.update(over)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_settings_and_their_refusals(tmp_path, monkeypatch):
    monkeypatch.delenv("NOVAOPS_CONSOLE_KEY", raising=False)
    loaded = config.load(settings(tmp_path))
    assert loaded.allowed_origins == ["https://console.example.com:6080"] and loaded.used_tokens == "memory"
    for over, words in ((dict(allowed_origins=[]), "allowed_origins"), (dict(token_key_file=None), "key"),
                        (dict(cert="/c.pem"), "cert and key")):
        with pytest.raises(config.ConfigError, match=words):
            config.load(settings(tmp_path, **over))


def test_pool_password_from_password_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("XENAPI_PASSWORD", raising=False)
    url = "https://xs1.example.com"
    (tmp_path / "pw").mkdir()
    (tmp_path / "pw" / (config.password_file("x", url).split("/")[-1])).write_text("s3cret\n")
    loaded = config.load(settings(tmp_path, xenapi=dict(password_dir=str(tmp_path / "pw"), pools={url: "root"})))
    assert loaded.xenapi_pools[url] == dict(username="root", password="s3cret")

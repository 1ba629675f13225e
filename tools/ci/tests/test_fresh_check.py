"""fresh_check.py: the root gets this machine's Debian sources and no third-party one (their keys
are not in it, and apt would stop at their signatures)."""

import pytest

from ci import fresh_check

DEBIAN = """Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
THIRD_PARTY = """Types: deb
URIs: https://deb.nodesource.example/node_20.x
Suites: nodistro
Components: main
Signed-By: /usr/share/keyrings/nodesource.gpg

Types: deb
URIs: https://vendor.example/apt
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg
"""


def test_only_debian_stanzas_and_lines(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEBIAN)
    (tmp_path / "sources.list.d" / "vendors.sources").write_text(THIRD_PARTY)
    (tmp_path / "sources.list").write_text(
        "deb https://packages.cloud.example/apt cloud-sdk-bookworm main\n"
        "deb [signed-by=/usr/share/keyrings/vendor.gpg] https://vendor.example/apt bookworm main\n"
        "deb http://old.example/debian bookworm-backports main\n"
        "# deb http://commented.example/debian bookworm main\n")
    stanzas, lines = fresh_check.debian_sources(tmp_path)
    assert [s.splitlines()[-3] for s in stanzas] == ["Suites: bookworm bookworm-updates", "Suites: bookworm-security"]
    assert lines == ["deb http://old.example/debian bookworm-backports main"]
    assert fresh_check.mirror(stanzas, lines) == "http://mirror.example/debian"


def test_one_line_sources_only(tmp_path):
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://ftp.example/debian bookworm main\n"
                                           "deb http://security.example/debian-security bookworm-security main\n")
    stanzas, lines = fresh_check.debian_sources(tmp_path)
    assert stanzas == [] and len(lines) == 2
    assert fresh_check.mirror(stanzas, lines) == "http://ftp.example/debian"


def test_no_debian_source_is_a_clear_stop(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "vendors.sources").write_text(THIRD_PARTY)
    with pytest.raises(SystemExit, match="no Debian bookworm source in"):
        fresh_check.debian_sources(tmp_path)

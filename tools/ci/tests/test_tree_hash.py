"""tree_hash.py: a change to a file changes the hash; what test runs write does not."""

import os

from ci.tree_hash import tree_hash


def test_what_counts(tmp_path):
    (tmp_path / "plugins").mkdir()
    module = tmp_path / "plugins" / "m.py"
    module.write_text("x = 1\n")
    first = tree_hash([str(tmp_path)], ["sanity"])
    assert tree_hash([str(tmp_path)], ["sanity", "--test", "pylint"]) != first
    for written in ("tests/output/data/integration-1.json", "plugins/__pycache__/m.cpython-311.pyc",
                    "tests/integration/integration_config.yml"):
        path = tmp_path / written
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    assert tree_hash([str(tmp_path)], ["sanity"]) == first
    module.write_text("x = 2\n")
    second = tree_hash([str(tmp_path)], ["sanity"])
    assert second != first
    os.chmod(module, 0o755)
    assert tree_hash([str(tmp_path)], ["sanity"]) != second


def test_files_as_roots_and_the_same_hash_in_another_checkout(tmp_path, monkeypatch):
    """fresh-check's stamp: files and directories named relative to two checkouts of the same tree."""
    roots = ["bindep.txt", "requirements.txt", "tools/beds"]
    for checkout in ("one", "two"):
        (tmp_path / checkout / "tools" / "beds").mkdir(parents=True)
        (tmp_path / checkout / "bindep.txt").write_text("python3-venv [platform:dpkg test]\n")
        (tmp_path / checkout / "requirements.txt").write_text("netaddr\n")
        (tmp_path / checkout / "tools" / "beds" / "beds.py").write_text("pass\n")
    monkeypatch.chdir(tmp_path / "one")
    first = tree_hash(roots)
    monkeypatch.chdir(tmp_path / "two")
    assert tree_hash(roots) == first
    (tmp_path / "two" / "bindep.txt").write_text("\n")
    assert tree_hash(roots) != first
    os.remove(tmp_path / "two" / "bindep.txt")
    assert tree_hash(roots) not in (first, tree_hash(["requirements.txt", "tools/beds"]))

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

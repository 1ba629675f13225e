"""integration_times.py: this run's file only, slowest target first, the total."""

import json
import os

from ci import integration_times


def write(root, name, targets, mtime):
    data = os.path.join(root, "tests", "output", "data")
    os.makedirs(data, exist_ok=True)
    path = os.path.join(data, name)
    with open(path, "w") as handle:
        json.dump(dict(targets=dict((n, dict(name=n, run_time_seconds=s)) for n, s in targets.items())), handle)
    os.utime(path, (mtime, mtime))
    return path


def earlier_run(tmp_path):
    """An earlier run's results file, then this run's start marker; returns the marker's path."""
    write(str(tmp_path), "integration-old.json", {"stale": 999}, 1000)
    marker = tmp_path / "started"
    marker.write_text("")
    os.utime(marker, (2000, 2000))
    return marker


def test_reads_only_the_file_of_this_run(tmp_path, capsys):
    root = str(tmp_path)
    marker = earlier_run(tmp_path)
    write(root, "integration-new.json", {"fast": 3, "slow": 40, "middle": 12}, 3000)
    assert integration_times.main([root, str(marker)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "integration-new.json" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["slow", "middle", "fast", "total"]
    assert lines[-1].split()[1] == "55"


def test_no_file_of_this_run(tmp_path, capsys):
    marker = earlier_run(tmp_path)
    assert integration_times.main([str(tmp_path), str(marker)]) == 0
    assert "wrote no results" in capsys.readouterr().out

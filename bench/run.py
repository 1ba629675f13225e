#!/usr/bin/env python3
"""`make bench`: run every benchmark in bench/ and collect the ratios they print.

Each bench/<name>.py measures one of ours against a named peer or baseline in the same run
and prints lines of the form ``RATIO <what>: <ours/peer> (<details>)``; this runner shows
their output and ends with the ratio lines together.  ``make bench BENCH_ARGS=name`` runs
only the named ones.
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names):
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if names:
        scripts = [p for p in scripts if p.stem in names]
    ratios, failed = [], []
    for script in scripts:
        print("== %s" % script.stem, flush=True)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        print(proc.stdout, end="")
        print("   (%s: %.1fs, exit %d)" % (script.stem, time.monotonic() - started, proc.returncode))
        ratios += ["%s: %s" % (script.stem, line[len("RATIO "):]) for line in proc.stdout.splitlines()
                   if line.startswith("RATIO ")]
        if proc.returncode:
            failed.append(script.stem)
    print("\n== ratios (ours / peer; below 1 is faster or fewer)")
    for line in ratios:
        print("  " + line)
    if failed:
        print("benchmarks that failed to run: %s" % ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

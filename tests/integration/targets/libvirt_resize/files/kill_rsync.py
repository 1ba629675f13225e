"""Kill, half way, the rsync a test's resize started: found by the file it sends (an exact argument).

    python3 kill_rsync.py <sent file> [--with-module]

Waits (at most 60 s) until that rsync runs and has sent for a second, then SIGKILLs it - or, with
--with-module, first its parent (the module's own process, as if the host had lost it) and then it.
Prints the pids it killed.  Only a process whose argv[0] is rsync and whose arguments hold the exact
path is ever touched.
"""

import json
import os
import signal
import sys
import time


def find(path):
    want = path.encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"rsync" and want in argv:
            return int(pid)
    return None


def parent_of(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def main(path, with_module):
    deadline = time.monotonic() + 60
    pid = find(path)
    while pid is None:
        if time.monotonic() > deadline:
            sys.exit("no rsync sending %s appeared within 60 s" % path)
        time.sleep(0.1)
        pid = find(path)
    time.sleep(1)
    killed = {}
    if with_module:
        killed["module"] = parent_of(pid)
        os.kill(killed["module"], signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    killed["rsync"] = pid
    print(json.dumps(killed))


if __name__ == "__main__":
    main(sys.argv[1], "--with-module" in sys.argv[2:])

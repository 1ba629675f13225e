"""The xapisim bed starts whatever its generated password looks like.

secrets.token_urlsafe() begins with "-" once in 64 beds directories; given as a separate argument,
argparse took it for an option and the pools never came up (seen on a fresh machine). A private
beds directory and ports of its own: the shared beds are not touched.
"""

import os
import random
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "tools" / "beds" / "beds.py"


def free(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def ports_base():
    """A port p with p..p+3 and p+260..p+263 free (the two lanes' pool pairs, HTTP and HTTPS)."""
    for _ in range(50):
        base = random.randrange(30000, 40000)
        if all(free(base + offset) for offset in (0, 1, 2, 3, 260, 261, 262, 263)):
            return base
    raise RuntimeError("no free ports for the xapisim bed")


def test_a_password_that_starts_with_a_dash(tmp_path):
    beds_dir = tmp_path / "beds"
    (beds_dir / "xapisim").mkdir(parents=True)
    (beds_dir / "xapisim" / "password").write_text("-Ab3_leading-dash")
    env = dict(os.environ, NOVAOPS_BEDS_DIR=str(beds_dir), NOVAOPS_XAPISIM_PORT=str(ports_base()))
    try:
        started = subprocess.run([sys.executable, str(SCRIPT), "start", "xapisim"], env=env,
                                 capture_output=True, text=True, check=False)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "bed xapisim  started" in started.stdout
        assert "XENAPI_PASSWORD=-Ab3_leading-dash" in (beds_dir / "env.sh").read_text()
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "stop", "xapisim"], env=env, capture_output=True, check=False)

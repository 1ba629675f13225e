"""Place a stand-in for pip's get-pip.py where ansible-test looks before downloading it.

ansible-test --venv bootstraps pip by downloading get-pip.py from a host this machine
cannot reach; it first looks for ~/.ansible/test/cache/get_pip_<version>.py.  The stand-in
runs ensurepip in a subprocess (ensurepip points PIP_CONFIG_FILE at /dev/null in its own
environment, and this machine's pip needs its config file for the certificate), then pip
installs what get-pip would have, dropping flags that plain pip does not know.
"""

import pathlib
import re

import ansible_test  # noqa: F401  (fails loudly if ansible-core is missing)

STUB = '''import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True,
               stdout=subprocess.DEVNULL)
if args:
    subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args,
                   check=True)
'''


def pip_version():
    """The pip version ansible-test pins for its venvs, as in get_venv_packages()."""
    source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    match = re.search(r"default_packages = dict\(\s*pip='([\d.]+)'", source.read_text())
    return None if match is None else match.group(1).replace(".", "_")


def main():
    version = pip_version() or "24_2"
    cache = pathlib.Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / ("get_pip_%s.py" % version)
    if not target.exists() or target.read_text() != STUB:
        target.write_text(STUB)


if __name__ == "__main__":
    main()

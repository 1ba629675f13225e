"""The built collection ships what it should, and every module is documented once installed.

Builds the tarball with ansible-galaxy, checks that none of the development-only trees are
in it, installs it into an empty collections path and checks that `ansible-doc -l
novaops.compute` lists exactly the modules in plugins/modules/.
"""

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOT_SHIPPED = ("tools", "tests", "bench", ".ci", ".beds", ".benchmarks", ".pytest_cache", "dist",
               "Makefile", "requirements-test.txt")


def run(*argv, **kwargs):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        run(str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", tmp, str(REPO))
        tarball = next(Path(tmp).glob("novaops-compute-*.tar.gz"))
        with tarfile.open(tarball) as tar:
            tops = {name.split("/", 1)[0] for name in tar.getnames()}
        leaked = sorted(tops & set(NOT_SHIPPED))
        if leaked:
            raise SystemExit("dist: the tarball ships development files: %s" % ", ".join(leaked))
        path = Path(tmp) / "collections"
        # --force: a copy already in ~/.ansible/collections would otherwise make this a no-op
        run(str(BIN / "ansible-galaxy"), "collection", "install", "--force", "-p", str(path), str(tarball))
        out = run(str(BIN / "ansible-doc"), "-t", "module", "-l", "novaops.compute",
                  env={"ANSIBLE_COLLECTIONS_PATH": str(path), "PATH": str(BIN) + ":/usr/bin:/bin",
                       "HOME": str(Path.home())}).stdout
        listed = sorted(line.split()[0] for line in out.splitlines() if line.startswith("novaops.compute."))
        wanted = sorted("novaops.compute." + p.stem for p in (REPO / "plugins" / "modules").glob("*.py")
                        if p.stem != "__init__")
        if listed != wanted:
            raise SystemExit("dist: ansible-doc lists %s, plugins/modules has %s" % (listed, wanted))
        print("dist: %s ships %d top-level entries, none of %s; ansible-doc lists %d module(s): %s"
              % (tarball.name, len(tops), "/".join(NOT_SHIPPED[:3]), len(listed), ", ".join(listed) or "none yet"))


if __name__ == "__main__":
    main()

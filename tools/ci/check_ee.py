"""`make ee-check`: execution-environment.yml turns into a build context, with what AWX needs in it.

Builds the collection tarball and runs `ansible-builder create` in a scratch copy (the repository's
dist/ is left alone), then checks the context: the Dockerfile installs ansible-core and
ansible-runner, the collection tarball and requirements.txt / bindep.txt are in _build/, and
bindep.txt gives the base image's package manager (rpm for Fedora) the packages libvirt-python
is compiled with - without them `pip install libvirt-python` fails inside the image build.
There is no container engine here, so the image itself is not built.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LIBVIRT_BUILD = ("gcc", "libvirt-devel", "python3-devel", "pkgconf-pkg-config")


def run(*argv, **kwargs):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (" ".join(argv[:3]), proc.stdout[-3000:]))
    return proc.stdout


def bindep_lines(text):
    """[(package, {profiles})] of a bindep file."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^(\S+)\s*(?:\[(.*)\])?$", line)
        if not match:
            raise SystemExit("bindep.txt: cannot read %r" % line)
        out.append((match.group(1), set((match.group(2) or "").split())))
    return out


def main():
    spec = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    failures = []
    with tempfile.TemporaryDirectory(prefix="novaops-ee-") as tmp:
        work = Path(tmp)
        for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
            shutil.copy(REPO / name, work / name)
        (work / "dist").mkdir()
        run(str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(work / "dist"),
            str(REPO))
        run(str(BIN / "ansible-builder"), "create", "-f", str(work / "execution-environment.yml"),
            "-c", str(work / "context"), "--output-filename", "Containerfile", cwd=str(work))
        context = work / "context"
        containerfile = (context / "Containerfile").read_text()
        build = context / "_build"
        checks = [
            ("ansible-core and ansible-runner are installed", "ansible-core" in containerfile
             and "ansible-runner" in containerfile),
            ("the collection tarball is in the context", bool(list((build / "collection").glob("novaops-compute-*.tar.gz")))),
            ("the final stage installs the collection", "ansible-galaxy collection install /tmp/collection/" in containerfile),
            ("requirements.txt is the repository's", (build / "requirements.txt").read_text()
             == (REPO / "requirements.txt").read_text()),
            ("bindep.txt is the repository's", (build / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()),
            ("requirements.txt installs openstacksdk and keystoneauth1 (glance.cloud)",
             all(re.search(r"^%s\b" % pkg, (build / "requirements.txt").read_text(), re.M)
                 for pkg in ("openstacksdk", "keystoneauth1"))),
        ]
        base = str(spec["images"]["base_image"]["name"])
        if re.search(r"fedora|centos|rhel|ubi|rocky|alma", base):
            rpm_compile = set(pkg for pkg, profiles in bindep_lines((REPO / "bindep.txt").read_text())
                              if "platform:rpm" in profiles and "compile" in profiles)
            missing = [pkg for pkg in LIBVIRT_BUILD if pkg not in rpm_compile]
            checks.append(("bindep.txt builds libvirt-python on %s (missing: %s)" % (base, ", ".join(missing) or "none"),
                           not missing))
        for what, passed in checks:
            print("%s %s" % ("ok  " if passed else "FAIL", what))
            if not passed:
                failures.append(what)
    if failures:
        raise SystemExit("execution environment: %d check(s) failed" % len(failures))
    print("execution environment: the build context is complete")


if __name__ == "__main__":
    main()

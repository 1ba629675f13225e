# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Security review of #13, as tests over the shipped code (plugins/, files/, roles/, playbooks/).

- Commands are argument lists: no shell=True, os.system/os.popen, use_unsafe_shell, nor a
  command given as a string (a literal, a %-format, an f-string, a concatenation) to
  run_command or subprocess; roles and playbooks use no shell, raw or script task, a command
  task only with argv and never for a hypervisor's CLI (virsh, xe, ovs-vsctl, ...: a module's job).
- Every secret-looking option (password, token, secret, private key contents) of every
  module's argument spec, sub-options included, is no_log.
- validate_certs defaults to true in every argument spec and plugin DOCUMENTATION, and the
  code turns verification off only under a condition on it.

What runs against the beds lives in tests/integration/targets: TLS against the simulator
and secrets in outputs (bad_input_corpus), plugin path confinement
(tools/xapisim/tests/test_plugin_migration.py, test_plugin_glance.py, test_plugins.py) and
backing-file refusal (tests/unit/plugins/module_utils/test_image.py, the libvirt_domain target).
"""

from __future__ import annotations

import ast
import os
import re
import runpy

import pytest
import yaml

from ansible.module_utils import basic

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MODULES = "ansible_collections.novaops.compute.plugins.modules."

# Names of options that hold a secret itself (not a path to it, not a flag about it).
SECRET_NAME = re.compile(r"(^|_)(pass|passwd|password|pwd|token|secret|private_key|api_key|credentials?)$")
# Calls that always go through a shell.
SHELL_CALLS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
               ("commands", "getoutput"), ("commands", "getstatusoutput")}
SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen"}
SHELL_TASKS = {"shell", "raw", "script", "ansible.builtin.shell", "ansible.builtin.raw", "ansible.builtin.script",
               "ansible.legacy.shell", "ansible.legacy.raw", "ansible.legacy.script"}
COMMAND_TASKS = {"command", "ansible.builtin.command", "ansible.legacy.command"}
# What a role must reach through a module, never by itself (DESIGN 2).
HYPERVISOR_CLIS = {"virsh", "xe", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "tc", "ip", "qemu-img", "vhd-util",
                   "e2fsck", "resize2fs", "tune2fs", "parted", "rsync"}


def python_sources():
    """(path, source) of every Python file that ships: plugins/ and the dom0 plugins in files/."""
    for top in ("plugins", "files"):
        for folder, dirs, names in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in sorted(names):
                path = os.path.join(folder, name)
                with open(path, "rb") as handle:
                    data = handle.read()
                if name.endswith(".py") or data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
                    yield os.path.relpath(path, ROOT), data.decode("utf-8")


def _dotted(node):
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        return _dotted(node.value) + (node.attr,)
    return ()


def _is_string_built(node):
    """A string literal, f-string, %-format, .format() or + of strings: a command line, not a list."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _is_string_built(node.left) or _is_string_built(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
    return False


def shell_uses(source):
    """(line, what) of every shell use in a Python source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        for keyword in node.keywords:
            if keyword.arg in ("shell", "use_unsafe_shell") and not (
                    isinstance(keyword.value, ast.Constant) and not keyword.value.value):
                found.append((node.lineno, "%s=%s" % (keyword.arg, ast.unparse(keyword.value))))
        if name[-2:] in SHELL_CALLS:
            found.append((node.lineno, "%s() runs a shell" % ".".join(name)))
        command = node.args[0] if node.args else None
        if command is None:
            command = next((k.value for k in node.keywords if k.arg in ("args", "argv")), None)
        if command is None:
            continue
        if name and name[-1] == "run_command" and _is_string_built(command):
            found.append((node.lineno, "run_command with a string: %s" % ast.unparse(command)[:80]))
        if len(name) >= 2 and name[-2] == "subprocess" and name[-1] in SUBPROCESS_CALLS and _is_string_built(command):
            found.append((node.lineno, "subprocess.%s with a string: %s" % (name[-1], ast.unparse(command)[:80])))
    return found


SOURCES = [pytest.param(path, source, id=path) for path, source in python_sources()]


@pytest.mark.parametrize("path, source", SOURCES)
def test_commands_are_argument_lists(path, source):
    assert shell_uses(source) == [], "%s runs a command through a shell" % path


def test_the_scanner_finds_what_it_looks_for():
    bad = ("import os, subprocess\n"
           "os.system('ls')\n"
           "subprocess.run('ls -l %s' % x, shell=True)\n"
           "module.run_command('qemu-img info ' + path)\n"
           "module.run_command(['ls'], use_unsafe_shell=True)\n"
           "subprocess.check_output(f'ls {x}')\n")
    assert [line for line, _what in shell_uses(bad)] == [2, 3, 3, 4, 5, 6]
    good = "module.run_command(['qemu-img', 'info', path])\nsubprocess.run(argv, shell=False)\n"
    assert shell_uses(good) == []


def _tasks(data):
    if isinstance(data, list):
        for item in data:
            yield from _tasks(item)
    elif isinstance(data, dict):
        yield data
        for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
            if key in data:
                yield from _tasks(data[key])


def yaml_task_files():
    for top in ("roles", "playbooks"):
        for folder, _dirs, names in os.walk(os.path.join(ROOT, top)):
            for name in sorted(names):
                if name.endswith((".yml", ".yaml")) and "/meta" not in folder and "/defaults" not in folder \
                        and "/vars" not in folder:
                    yield os.path.relpath(os.path.join(folder, name), ROOT)


def command_problems(tasks):
    """(task name, why) of every task that shells out or runs a hypervisor CLI itself."""
    found = []
    for task in tasks:
        name = task.get("name", "?")
        if SHELL_TASKS & set(task):
            found.append((name, "a shell, raw or script task"))
        for key in COMMAND_TASKS & set(task):
            args = task[key]
            argv = args.get("argv") if isinstance(args, dict) else None
            if not argv:
                found.append((name, "a command given as a string, not argv"))
            elif os.path.basename(str(argv[0])) in HYPERVISOR_CLIS:
                found.append((name, "runs %s itself instead of a module" % argv[0]))
    return found


@pytest.mark.parametrize("path", list(yaml_task_files()))
def test_roles_and_playbooks_call_modules_only(path):
    with open(os.path.join(ROOT, path)) as handle:
        data = yaml.safe_load(handle)
    assert command_problems(_tasks(data)) == [], "%s runs commands instead of modules" % path


def test_the_task_scanner_finds_what_it_looks_for():
    tasks = [{"name": "a", "ansible.builtin.shell": "virsh list"}, {"name": "b", "command": "xe vm-list"},
             {"name": "c", "ansible.builtin.command": {"argv": ["/usr/bin/virsh", "list"]}},
             {"name": "d", "ansible.builtin.command": {"cmd": "ls"}},
             {"name": "e", "ansible.builtin.command": {"argv": ["which", "rsync"]}}]
    assert [name for name, _why in command_problems(tasks)] == ["a", "b", "c", "d"]


# -- argument specs ------------------------------------------------------------------------------
class _Captured(Exception):
    pass


def module_specs():
    """Every module's argument spec, read as ansible-test's validate-modules reads it."""
    specs = {}
    original = basic.AnsibleModule.__init__

    def capture(self, *args, **kwargs):
        raise _Captured(kwargs)

    basic.AnsibleModule.__init__ = capture
    try:
        for name in sorted(os.listdir(os.path.join(ROOT, "plugins", "modules"))):
            if not name.endswith(".py") or name.startswith("_"):
                continue
            try:
                runpy.run_module(MODULES + name[:-3], run_name="__main__", alter_sys=False)
            except _Captured as captured:
                specs[name[:-3]] = captured.args[0]["argument_spec"]
            except SystemExit:
                pass
    finally:
        basic.AnsibleModule.__init__ = original
    return specs


def walk(spec, prefix=""):
    for name, option in sorted(spec.items()):
        yield prefix + name, name, option
        if option.get("options"):
            yield from walk(option["options"], prefix + name + ".")


SPECS = module_specs()


def _source(path):
    with open(os.path.join(ROOT, path)) as handle:
        return handle.read()


def test_every_module_spec_was_read():
    made = set(n[:-3] for n in os.listdir(os.path.join(ROOT, "plugins", "modules")) if n.endswith(".py"))
    # documentation stubs of action plugins make no AnsibleModule
    stubs = set(n for n in made if os.path.exists(os.path.join(ROOT, "plugins", "action", n + ".py")))
    assert set(SPECS) == made - stubs


@pytest.mark.parametrize("module", sorted(SPECS))
def test_secret_options_are_no_log(module):
    missing = []
    for path, name, option in walk(SPECS[module]):
        if option.get("type") in ("path", "bool") or not SECRET_NAME.search(name):
            continue
        if not option.get("no_log"):
            missing.append(path)
    assert missing == [], "%s: secret-looking options without no_log: %s" % (module, missing)


@pytest.mark.parametrize("module", sorted(SPECS))
def test_validate_certs_defaults_to_true(module):
    wrong = []
    for path, name, option in walk(SPECS[module]):
        if not name.endswith("validate_certs"):
            continue
        siblings = path.rsplit(".", 1)[0] if "." in path else ""
        inherits = name != "validate_certs" and option.get("default") is None and any(
            p == (siblings + "." if siblings else "") + "validate_certs" for p, _n, _o in walk(SPECS[module]))
        if option.get("default") is not True and not inherits:
            wrong.append("%s (default %r)" % (path, option.get("default")))
    assert wrong == [], "%s: %s" % (module, wrong)


def plugin_docs():
    for kind in ("inventory", "doc_fragments", "lookup", "connection", "callback"):
        folder = os.path.join(ROOT, "plugins", kind)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py") and name != "__init__.py":
                yield os.path.join("plugins", kind, name)


def _doc_options(path):
    tree = ast.parse(_source(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets) \
                and isinstance(node.value, ast.Constant):
            doc = yaml.safe_load(node.value.value) or {}
            yield from (doc.get("options") or {}).items()


@pytest.mark.parametrize("path", list(plugin_docs()))
def test_plugin_docs_validate_certs_default_true(path):
    # a <prefix>_validate_certs unset is its module's validate_certs (xen_destination's dest_validate_certs), as
    # test_validate_certs_defaults_to_true allows: then it must say so
    wrong = [name for name, option in _doc_options(path)
             if name.endswith("validate_certs") and (option or {}).get("default") not in (True, "true", "yes")
             and not (name != "validate_certs" and (option or {}).get("default") is None
                      and "defaults to O(validate_certs)" in str((option or {}).get("description")))]
    assert wrong == [], "%s documents validate_certs without default true: %s" % (path, wrong)


UNVERIFIED = ("CERT_NONE", "_create_unverified_context")


def unguarded_unverified_tls(source):
    """Lines that switch TLS verification off outside an ``if`` on a validate flag."""
    tree = ast.parse(source)
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    found = []
    for node in ast.walk(tree):
        off = isinstance(node, ast.Attribute) and node.attr in UNVERIFIED
        off = off or (isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "check_hostname"
                                                           for t in node.targets)
                      and isinstance(node.value, ast.Constant) and node.value.value is False)
        off = off or (isinstance(node, ast.keyword) and node.arg == "ignore_ssl"
                      and isinstance(node.value, ast.Constant) and node.value.value is True)
        if not off:
            continue
        up, guarded = node, False
        while up in parents:
            up = parents[up]
            if isinstance(up, ast.If) and "validat" in ast.unparse(up.test):
                guarded = True
                break
        if not guarded:
            found.append(getattr(node, "lineno", None))
    return sorted(found)


@pytest.mark.parametrize("path, source", SOURCES)
def test_tls_verification_is_off_only_when_asked(path, source):
    assert unguarded_unverified_tls(source) == [], "%s turns TLS verification off unconditionally" % path


def test_the_tls_scanner_finds_what_it_looks_for():
    bad = "import ssl\nctx = ssl._create_unverified_context()\nctx.check_hostname = False\n"
    assert unguarded_unverified_tls(bad) == [2, 3]
    good = "if not validate_certs:\n    ctx.check_hostname = False\n    ctx.verify_mode = ssl.CERT_NONE\n"
    assert unguarded_unverified_tls(good) == []

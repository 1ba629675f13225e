# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bad values, generated per option from its argument spec (type, elements, choices, name).

Each value has a kind (``wrong_type_dict``, ``traversal``, ``shell_subst``, ``negative`` ...);
a case is (module, option path, kind, value) applied to the module's valid base call.  Values
that run a command when some code hands them to a shell create ``<canary_dir>/pwned-<n>``:
the driver checks that no such file ever appears.
"""

from __future__ import annotations

import copy
import re

HUGE_STR = 100 * 1000
UNICODE = "bi-\u00fcn\u00efc\u00f6d\u00e9-\u540d\u524d-\U0001F680-\u202eevil"

_UUIDISH = re.compile(r"(^|_)(uuid|id)$")
_PATHISH = re.compile(r"(^|_)(path|dir|directory|file|root)$")
_URLISH = re.compile(r"(^|_)(url|uri)$")


class Case:
    __slots__ = ("number", "module", "path", "kind", "value", "args")

    def __init__(self, number, module, path, kind, value, args):
        self.number = number
        self.module = module
        self.path = path          # ("disks", 0, "size_gb")
        self.kind = kind
        self.value = value
        self.args = args

    @property
    def option(self):
        return ".".join(str(part) if not isinstance(part, int) else "[%d]" % part for part in self.path).replace(".[", "[")

    def label(self):
        shown = repr(self.value)
        if len(shown) > 70:
            shown = shown[:60] + "...(%d chars)" % len(shown)
        return "%s %s=%s (%s)" % (self.module, self.option, shown, self.kind)


def _str_values(name, spec, ctx):
    canary = ctx["canary"]
    values = [
        ("empty", ""),
        ("whitespace", "   "),
        ("huge", "bi-" + "x" * HUGE_STR),
        ("unicode", UNICODE),
        ("nul_byte", "bi-\x00nul"),
        ("newline", "bi-corpus\nsecond-line"),
        ("traversal", "../../../../etc/passwd"),
        ("absolute_elsewhere", "/etc/passwd"),
        ("shell_semicolon", "bi; touch %s" % canary()),
        ("shell_subst", "$(touch %s)" % canary()),
        ("shell_backtick", "`touch %s`" % canary()),
        ("shell_pipe_amp", "bi | touch %s & touch %s" % (canary(), canary())),
        ("option_injection", "--help"),
        ("wrong_type_dict", {"bi": "corpus"}),
        ("wrong_type_list", ["bi", "corpus"]),
    ]
    if _PATHISH.search(name) or spec.get("type") == "path":
        values += [
            ("symlink_escape", ctx["symlink_escape"]),
            ("dir_not_file", "/etc"),
            ("proc_file", "/proc/self/environ"),
            ("device_file", "/dev/zero"),
            ("relative_dot", "."),
        ]
    if _UUIDISH.search(name):
        values += [
            ("bad_uuid", "not-a-uuid"),
            ("uuid_bad_hex", "0000000g-0000-0000-0000-000000000000"),
            ("uuid_injection", "00000000-0000-0000-0000-000000000000' OR '1'='1"),
            ("uuid_nil_unknown", "00000000-0000-0000-0000-000000000000"),
            ("uuid_glob", "*"),
            ("opaque_ref", "OpaqueRef:NULL"),
        ]
    if _URLISH.search(name):
        values += [
            ("url_file_scheme", "file:///etc/passwd"),
            ("url_malformed", "http://[::1"),
            ("url_unreachable", "http://127.0.0.1:1/"),
            ("url_credentials", "http://bi-user:bi-pass@127.0.0.1:1/"),
            ("url_scheme_only", "https://"),
        ]
    if re.search(r"(^|_)mac$", name):
        values += [("mac_bad", "zz:zz:zz:zz:zz:zz"), ("mac_broadcast", "ff:ff:ff:ff:ff:ff"),
                   ("mac_multicast", "01:00:5e:00:00:01"), ("mac_short", "02:00:00")]
    if re.search(r"(^|_)(ip|size|bridge|port|interface|network|userdevice|device|disk|listen|host)$", name):
        values += [("special_dash_leading", "-rf"), ("glob", "*"), ("very_long_name", "bi-" + "n" * 300)]
    return values


def _int_values(_name, _spec, _ctx):
    return [
        ("negative", -1),
        ("zero", 0),
        ("huge", 2 ** 63),
        ("huger", 10 ** 30),
        ("min_int", -(2 ** 63)),
        ("wrong_type_str", "bi-not-a-number"),
        ("wrong_type_float", 1.5),
        ("wrong_type_list", [1]),
        ("wrong_type_dict", {"bi": 1}),
    ]


def _float_values(_name, _spec, _ctx):
    return [
        ("negative", -1.0),
        ("zero", 0.0),
        ("huge", 1e308),
        ("nan", "nan"),
        ("inf", "inf"),
        ("wrong_type_str", "bi-not-a-number"),
        ("wrong_type_list", [1.0]),
    ]


def _bool_values(_name, _spec, _ctx):
    return [("wrong_type_str", "bi-maybe"), ("int_two", 2), ("wrong_type_list", [True]), ("wrong_type_dict", {"a": 1})]


def _list_values(name, spec, ctx):
    values = [
        ("wrong_type_dict", {"bi": "corpus"}),
        ("empty", []),
        ("huge", ["bi-%d" % i for i in range(5000)]),
    ]
    elements = spec.get("elements")
    if elements == "dict":
        values += [("element_not_dict", ["bi-not-a-dict"]), ("element_empty_dict", [{}]),
                   ("element_unknown_key", [{"bi_unknown": 1}])]
    elif elements in (None, "str", "raw", "path"):
        for kind, value in _str_values(name, spec, ctx):
            if not kind.startswith("wrong_type"):
                values.append(("element_" + kind, [value]))
        values.append(("element_wrong_type_dict", [{"bi": 1}]))
        values.append(("element_duplicate", ["bi-dup", "bi-dup"]))
    elif elements == "int":
        values += [("element_" + kind, [value]) for kind, value in _int_values(name, spec, ctx)]
    return values


def _dict_values(_name, spec, ctx):
    values = [
        ("wrong_type_str", "bi-not-a-dict"),
        ("wrong_type_list", ["bi"]),
        ("wrong_type_int", 5),
    ]
    if not spec.get("options"):     # a free-form dict: keys and values are data
        values += [
            ("empty", {}),
            ("weird_keys", {"bi\x00nul": "x", "../../etc/passwd": "$(touch %s)" % ctx["canary"](), "": "empty-key",
                            "bi\nnewline": UNICODE}),
            ("nested_values", {"bi": {"nested": ["deep", {"deeper": 1}]}}),
            ("huge", dict(("bi-k%d" % i, "v" * 100) for i in range(3000))),
        ]
    return values


_BY_TYPE = {"str": _str_values, "path": _str_values, "raw": _str_values, "int": _int_values,
            "float": _float_values, "bool": _bool_values, "list": _list_values, "dict": _dict_values}


def values_for(name, spec, ctx):
    kind = spec.get("type", "str")
    values = [("null", None)]
    if spec.get("choices"):
        values.append(("bad_choice", "bi-corpus-bogus"))
    values += _BY_TYPE.get(kind, _str_values)(name, spec, ctx)
    if spec.get("choices"):   # a free string beside the choices is only another bad choice
        values = [(k, v) for k, v in values if k in ("null", "bad_choice") or k.startswith("wrong_type")]
    return values


def _set(args, path, value):
    target = args
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _get(args, path):
    try:
        for part in path:
            args = args[part]
        return args
    except (KeyError, IndexError, TypeError):
        return None


def _walk(spec_options, base, prefix):
    """(path, option spec) of every option whose parent is present in the base call."""
    for name, spec in sorted(spec_options.items()):
        path = prefix + (name,)
        yield path, spec
        sub = spec.get("options")
        if not sub:
            continue
        value = base.get(name) if isinstance(base, dict) else None
        if spec.get("type") == "dict" and isinstance(value, dict):
            yield from _walk(sub, value, path)
        elif spec.get("type") == "list" and isinstance(value, list) and value and isinstance(value[0], dict):
            yield from _walk(sub, value[0], path + (0,))


# What an option shared with another module (its connection, Glance or ssh options, written
# once in module_utils) still gets where that other module runs its full corpus.
SAMPLE_KINDS = {"null", "empty", "wrong_type_dict", "wrong_type_str", "wrong_type_int", "bad_choice", "nul_byte"}


def generate(module, spec, base, ctx, first_number=1, skip=(), sampled=()):
    """The cases of one module: every option (and sub-option present in the base) x its bad values.

    Options in ``sampled`` (top-level names) get only SAMPLE_KINDS.
    """
    cases = []
    number = first_number
    for path, option_spec in _walk(spec["argument_spec"], base, ()):
        if path in skip or path[0] in skip:
            continue
        original = _get(base, path)
        for kind, value in values_for(str(path[-1]), option_spec, ctx):
            if path[0] in sampled and kind not in SAMPLE_KINDS:
                continue
            if value is not None and type(value) is type(original) and value == original:
                continue        # the base's own value: nothing bad about it
            args = copy.deepcopy(base)
            try:
                _set(args, path, value)
            except (KeyError, IndexError, TypeError):
                continue
            if value is None and path[-1] not in base and len(path) == 1:
                continue        # null is what leaving it out already is: the base call itself
            cases.append(Case(number, module, path, kind, value, args))
            number += 1
    return cases

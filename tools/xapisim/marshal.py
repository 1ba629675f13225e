"""Values on the wire as xapi writes them (its rpc library, ocaml-rpc's Xmlrpc and Jsonrpc).

XML-RPC (ocaml-rpc src/lib/xmlrpc.ml, ``add_value``): a string is ``<value>text</value>``
with no ``<string>`` tag (so an empty string is ``<value></value>``), a 64-bit int is a bare
``<value>123</value>`` too (clients therefore read ints as decimal strings), an int32 is
``<i4>``, a bool ``<boolean>1|0</boolean>``, a float ``<double>`` printed ``%.16g``, a datetime
``<dateTime.iso8601>``, lists ``<array><data>``, records ``<struct><member><name>``.  Text is
escaped for ``& < > "``; control characters other than tab, LF and CR are dropped.  A response
is ``<?xml version="1.0"?><methodResponse><params><param>...`` with no whitespace.

JSON (ocaml-rpc src/lib/jsonrpc.ml): ints are numbers, datetimes strings; a 1.0 response is
``{"result", "error", "id"}`` with the other one null, a 2.0 response ``{"jsonrpc", "result"|
"error", "id"}``.

The simulator's values: ``str``, ``int`` (xapi int64), ``api.I32``, ``bool``, ``float``,
``api.DT`` (a datetime string), ``dict``, ``list``/``tuple``/``set``, ``None`` (an empty string).
"""

import re

from .api import DT, I32

_DROP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
_ESCAPE = re.compile('[&<>"]')


def xml_text(s):
    """A string escaped as ocaml-rpc's ``Xmlrpc.encode`` escapes it."""
    s = _DROP.sub("", s)
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], s)


def _add_value(out, v):
    if v is None:
        out.append("<value></value>")
    elif isinstance(v, bool):
        out.append("<value><boolean>%d</boolean></value>" % (1 if v else 0))
    elif isinstance(v, I32):
        out.append("<value><i4>%d</i4></value>" % int(v))
    elif isinstance(v, int):
        out.append("<value>%d</value>" % v)
    elif isinstance(v, float):
        out.append("<value><double>%.16g</double></value>" % v)
    elif isinstance(v, DT):
        out.append("<value><dateTime.iso8601>%s</dateTime.iso8601></value>" % xml_text(str(v)))
    elif isinstance(v, str):
        out.append("<value>%s</value>" % xml_text(v))
    elif isinstance(v, dict):
        out.append("<value><struct>")
        for k, x in v.items():
            out.append("<member><name>%s</name>" % xml_text(str(k)))
            _add_value(out, x)
            out.append("</member>")
        out.append("</struct></value>")
    elif isinstance(v, (list, tuple, set, frozenset)):
        out.append("<value><array><data>")
        for x in v:
            _add_value(out, x)
        out.append("</data></array></value>")
    else:
        out.append("<value>%s</value>" % xml_text(str(v)))


def xml_value(v):
    """One value as ``<value>...</value>``: also what a task's ``result`` field holds."""
    out = []
    _add_value(out, v)
    return "".join(out)


def xml_response(v):
    """A methodResponse carrying ``v`` (an envelope dict, or a bare value for system.listMethods)."""
    return '<?xml version="1.0"?><methodResponse><params><param>%s</param></params></methodResponse>' \
        % xml_value(v)


def json_value(v):
    if v is None:
        return ""
    if isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [json_value(x) for x in v]
    return str(v)


def json_response(version2, rid, success, contents):
    """The JSON-RPC response object (a dict ready for json.dumps), keys in ocaml-rpc's order."""
    if version2:
        out = {"jsonrpc": "2.0"}
        out["result" if success else "error"] = contents
        out["id"] = rid
        return out
    if success:
        return {"result": contents, "error": None, "id": rid}
    return {"result": None, "error": contents, "id": rid}

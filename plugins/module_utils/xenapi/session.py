# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""XenAPI session, error mapping, event-driven waits and look-ups.

Every XenAPI fault is turned into a XenAPIError carrying ``xenapi_error: {code, params}``
and a sentence; waits use ``event.from`` (never a sleep loop).

An expired session (xapi restarted, the session timed out or was logged out by someone
else) is answered SESSION_INVALID: the session logs in again once with the same password
and sends the same call once more (ReloginOnceSession says which calls and why that is safe).
"""

from __future__ import annotations

import socket
import ssl
import time
import traceback
import xmlrpc.client

from urllib.parse import urlsplit

from ansible.module_utils.basic import env_fallback

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout
from ansible_collections.novaops.compute.plugins.module_utils.common.tls import client_context
from ansible_collections.novaops.compute.plugins.module_utils.common.uuids import check_uuid
from ansible_collections.novaops.compute.plugins.module_utils.common.file_rule import PLAIN_FILE
from ansible_collections.novaops.compute.plugins.module_utils.common import input_rules as rules

try:
    import XenAPI
    HAS_XENAPI = True
    XENAPI_IMPORT_ERROR = None
except ImportError:
    HAS_XENAPI = False
    XENAPI_IMPORT_ERROR = traceback.format_exc()

NULL_REF = "OpaqueRef:NULL"
ORIGINATOR = "novaops.compute"

# Sentences for the codes operators meet most; the rest get a generic one with the params.
_MESSAGES = {
    "SESSION_AUTHENTICATION_FAILED": "XenAPI login as {0!r} was refused: {1}",
    "VM_BAD_POWER_STATE": "VM {0} is {2}, but the operation needs it {1}.",
    "OPERATION_BLOCKED": "Operation refused: VM {0} has it in blocked_operations (value {1!r}); "
                         "remove the lock (e.g. bootlock: false) first.",
    "HANDLE_INVALID": "The {0} reference {1} does not exist (deleted meanwhile?).",
    "UUID_INVALID": "No {0} has UUID {1}.",
    "VDI_IN_USE": "VDI {0} is in use ({1}).",
    "VM_IS_TEMPLATE": "{0} is a template; templates cannot be started.",
    "SR_BACKEND_FAILURE_44": "The storage repository has not enough space.",
    "XENAPI_MISSING_PLUGIN": "The dom0 plugin {0!r} is not installed on the host "
                             "(role novaops.compute.xapi_plugins installs it).",
    "SESSION_INVALID": "The XenAPI session {0} is not valid, even right after logging in again; "
                       "check that the host keeps sessions of this user (session limit, restarts).",
}

PLUGIN_DETAIL = 400    # characters of each part of a plugin failure in the message

# Calls whose meaning belongs to the session that made them: an event subscription is the
# session's own, so after a re-login it would silently be another, empty one.
NOT_RETRIED_AFTER_RELOGIN = frozenset(("event.register", "event.unregister", "event.next"))


def xenapi_argument_spec():
    """Connection options shared by every XenAPI module (doc fragment novaops.compute.xenapi)."""
    return ArgumentSpec(dict(
        url=dict(type="str", aliases=["hostname"], fallback=(env_fallback, ["XENAPI_URL"])),
        username=dict(type="str", default="root", aliases=["user"], fallback=(env_fallback, ["XENAPI_USERNAME"])),
        password=dict(type="str", no_log=True, aliases=["pass", "pwd"], fallback=(env_fallback, ["XENAPI_PASSWORD"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["XENAPI_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["XENAPI_CA_PATH"])),
    ), input_rules={"validate_certs": rules.TlsSwitch(("url",)), "ca_path": PLAIN_FILE})


class XenAPIError(NovaopsError):
    """A XenAPI Failure, as ``xenapi_error: {code, params}`` plus a readable sentence."""

    def __init__(self, code, params, method=None, msg=None):
        self.code = code
        self.params = list(params)
        self.method = method
        super().__init__(msg or self.describe(code, self.params, method),
                         xenapi_error=dict(code=code, params=self.params, method=method))

    @staticmethod
    def describe(code, params, method=None):
        if code == "XENAPI_PLUGIN_FAILURE":
            # [function, exception class, message] from XenAPIPlugin, or xapi's [what, stdout, stderr]:
            # the class and message say what went wrong, so none is dropped (each cut to its end)
            parts = [part.strip()[-PLUGIN_DETAIL:] for part in params if part.strip()]
            return "The dom0 plugin failed: %s" % (": ".join(parts) or "(no detail)")
        template = _MESSAGES.get(code)
        if template is not None:
            try:
                return template.format(*params)
            except (IndexError, KeyError):
                pass
        where = " in %s" % method if method else ""
        return "XenAPI error %s%s: %s" % (code, where, ", ".join(params) or "(no parameters)")

    @classmethod
    def from_failure(cls, failure, method=None):
        details = [str(item) for item in (failure.details or ["UNKNOWN_ERROR"])]
        return cls(details[0], details[1:], method)


def checked_url(url):
    """The URL when it is one XML-RPC over http(s) can reach, else a NovaopsError saying why."""
    problem = parts = None
    try:
        parts = urlsplit(url)
        parts.port   # pylint: disable=pointless-statement  # a port that is not a number raises here
        if parts.scheme not in ("http", "https"):
            problem = "the scheme must be https or http"
        elif not parts.hostname:
            problem = "it names no host"
        elif parts.username is not None or parts.password is not None:
            problem = "credentials go in username and password, not in the URL"
        elif any(char.isspace() or ord(char) < 32 for char in url):
            problem = "it contains spaces or control characters"
        else:
            parts.hostname.encode("idna")
    except (ValueError, UnicodeError) as exc:
        problem = str(exc)
    if problem:
        shown = url if parts is None or "@" not in url else "%s://...@%s" % (parts.scheme, url.rsplit("@", 1)[1])
        raise NovaopsError("The XenAPI URL %r is not usable: %s." % (shown[:200], problem), url=shown[:200])
    return url


def _connection_error(url, exc):
    if isinstance(exc, ssl.SSLError):
        return NovaopsError("TLS verification of %s failed (%s); give ca_path, or validate_certs: false "
                            "for a host you trust." % (url, exc), url=url)
    return NovaopsError("Cannot reach XenAPI at %s: %s" % (url, exc), url=url)


def _wrap_xenapi_faults(url, method=None):
    """Translate what the SDK raises into NovaopsError (used by XenAPIConnection.__exit__)."""
    def translate(exc):
        if HAS_XENAPI and isinstance(exc, XenAPI.Failure):
            return XenAPIError.from_failure(exc, method)
        if isinstance(exc, xmlrpc.client.Fault):
            return NovaopsError("XenAPI at %s answered with an XML-RPC fault %s: %s"
                                % (url, exc.faultCode, exc.faultString), url=url)
        if isinstance(exc, xmlrpc.client.ProtocolError):
            return NovaopsError("XenAPI at %s answered HTTP %s %s" % (url, exc.errcode, exc.errmsg), url=url)
        if isinstance(exc, (OSError, socket.timeout)):
            return _connection_error(url, exc)
        return None
    return translate


class ReloginOnceSession(XenAPI.Session if HAS_XENAPI else object):
    """The SDK's session, with the re-login on SESSION_INVALID bounded to once per call.

    Retried after a re-login: every call but NOT_RETRIED_AFTER_RELOGIN, mutating ones too,
    because xapi checks the session before it dispatches a call, so a call answered
    SESSION_INVALID did nothing.  A second SESSION_INVALID for the same call, or a failed
    re-login, is raised.  Transport faults (connection reset, timeout) are never retried:
    such a call may have run.  (The SDK alone retries any call up to three times.)
    """

    relogins = 0

    def xenapi_request(self, methodname, params):
        if methodname.startswith("login") or methodname in ("logout", "session.logout"):
            return super().xenapi_request(methodname, params)
        answer = self._send(methodname, params)
        if _session_invalid(answer) and methodname not in NOT_RETRIED_AFTER_RELOGIN and self.last_login_method:
            getattr(self, self.last_login_method)(*self.last_login_params)
            self.relogins += 1
            answer = self._send(methodname, params)
        return _value_of(answer)

    def _send(self, methodname, params):
        return xmlrpc.client.ServerProxy.__getattr__(self, methodname)(self.handle, *params)


def _session_invalid(answer):
    return isinstance(answer, dict) and answer.get("Status") == "Failure" and \
        (answer.get("ErrorDescription") or [None])[0] == "SESSION_INVALID"


def _value_of(answer):
    """The Value of a xapi answer; a Failure raised as the SDK raises it."""
    if not isinstance(answer, dict) or "Status" not in answer:
        raise xmlrpc.client.Fault(500, "Missing Status in response from server")
    if answer["Status"] == "Success":
        if "Value" not in answer:
            raise xmlrpc.client.Fault(500, "Missing Value in response from server")
        return answer["Value"]
    if not answer.get("ErrorDescription"):
        raise xmlrpc.client.Fault(500, "Missing ErrorDescription in response from server")
    raise XenAPI.Failure(answer["ErrorDescription"])


class XenAPIConnection:
    """A logged-in XenAPI session; use as a context manager.

    Inside the ``with`` block, SDK faults escaping the block become XenAPIError (or
    NovaopsError for transport faults), so modules never see a traceback for them.
    """

    def __init__(self, url, username, password, validate_certs=True, ca_path=None):
        if not HAS_XENAPI:
            raise NovaopsError("The XenAPI Python SDK is required on the managed node (pip install XenAPI).",
                               exception=XENAPI_IMPORT_ERROR)
        if not url:
            raise NovaopsError("No XenAPI URL: set url, or XENAPI_URL in the environment.")
        if "://" not in url:
            url = "https://%s" % url
        self.url = checked_url(url)
        self._credentials = (username or "root", password or "")
        self._translate = _wrap_xenapi_faults(url)
        transport = None
        if url.startswith("https") and validate_certs and ca_path:
            transport = xmlrpc.client.SafeTransport(context=client_context(ca_path))
        self.session = ReloginOnceSession(url, transport=transport, ignore_ssl=not validate_certs)
        self.xenapi = self.session.xenapi

    @classmethod
    def from_params(cls, params):
        return cls(params["url"], params["username"], params["password"],
                   params["validate_certs"], params.get("ca_path"))

    def __enter__(self):
        try:
            self.session.login_with_password(self._credentials[0], self._credentials[1], "1.0", ORIGINATOR)
        except Exception as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.session.xenapi.session.logout()
        except Exception:  # the session may already be gone; logout is best effort
            pass
        if exc is not None and not isinstance(exc, NovaopsError):
            translated = self._translate(exc)
            if translated is not None:
                raise translated from exc
        return False

    # -- calls ------------------------------------------------------------------------------

    def call(self, method, *args):
        """``call('VM.start', ref, False, False)``: one XenAPI call; faults named by method."""
        target = self.xenapi
        for part in method.split("."):
            target = getattr(target, part)
        try:
            return target(*args)
        except Exception as exc:
            translated = _wrap_xenapi_faults(self.url, method)(exc)
            if translated is None:
                raise
            raise translated from exc

    def event_from(self, classes, token, timeout):
        return self.call("event.from", list(classes), token, float(timeout))

    # -- waits ------------------------------------------------------------------------------

    def wait_for(self, cls, ref, predicate, timeout, what):
        """Wait, on ``event.from``, until ``predicate(record)`` holds for object ``ref``.

        Returns the record.  The first event.from with an empty token returns the current
        snapshot of every object of the class together with a token, so no change between
        the read and the wait can be missed.
        """
        deadline = time.monotonic() + timeout
        token = ""
        wait = 0.0
        while True:
            answer = self.event_from([cls], token, wait)
            token = answer["token"]
            for event in answer.get("events", []):
                if event.get("ref") != ref:
                    continue
                if event.get("operation") == "del":
                    raise NovaopsError("The %s %s was deleted while waiting for %s." % (cls, ref, what))
                record = event.get("snapshot")
                if record is not None and predicate(record):
                    return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(what, timeout)
            wait = min(remaining, 30.0)

    def wait_for_task(self, task, timeout, what=None):
        """Wait for an Async task; return its parsed result, or raise its error as XenAPIError."""
        what = what or "XenAPI task %s" % task
        try:
            record = self.wait_for("task", task, lambda rec: rec.get("status") != "pending", timeout, what)
        except WaitTimeout:
            try:
                self.call("task.cancel", task)
            except NovaopsError:
                pass
            raise
        try:
            status = record.get("status")
            if status == "success":
                return parse_task_result(record.get("result", ""))
            info = [str(item) for item in record.get("error_info") or ["TASK_FAILED", status]]
            raise XenAPIError(info[0], info[1:], record.get("name_label"))
        finally:
            try:
                self.call("task.destroy", task)
            except NovaopsError:
                pass

    def run_async(self, method, *args, **kwargs):
        """``Async.<method>`` then wait: bounded by ``timeout`` (keyword, seconds)."""
        timeout = kwargs.pop("timeout", 600)
        task = self.call("Async." + method, *args)
        return self.wait_for_task(task, timeout, "%s to finish" % method)

    # -- look-ups ---------------------------------------------------------------------------

    def find(self, cls, uuid=None, name=None, where=None, required=True, what=None):
        """One object by uuid or by name_label: ``(ref, record)``, or ``(None, None)``.

        ``where(record)`` filters name matches (e.g. exclude templates).  Several matches
        are an error that lists them; ``required`` turns none into an error too.
        """
        what = what or cls
        if uuid:
            uuid = check_uuid(uuid)
            try:
                ref = self.call("%s.get_by_uuid" % cls, uuid)
            except XenAPIError as exc:
                if exc.code != "UUID_INVALID":
                    raise
                if required:
                    raise NovaopsError("No %s has UUID %s." % (what, uuid), xenapi_error=exc.facts["xenapi_error"])
                return None, None
            return ref, self.call("%s.get_record" % cls, ref)
        if name is None:
            raise NovaopsError("Give a uuid or a name to find the %s." % what)
        matches = []
        for ref in self.call("%s.get_by_name_label" % cls, name):
            record = self.call("%s.get_record" % cls, ref)
            if where is None or where(record):
                matches.append((ref, record))
        if len(matches) > 1:
            raise NovaopsError("%d %ss are named %r (uuids %s); give the uuid instead."
                               % (len(matches), what, name, ", ".join(rec["uuid"] for _ref, rec in matches)))
        if not matches:
            if required:
                raise NovaopsError("No %s is named %r." % (what, name))
            return None, None
        return matches[0]


def parse_task_result(result):
    """A task's ``result`` is an XML-RPC ``<value>...</value>`` string (or empty)."""
    if not result:
        return None
    if "<value" not in result:
        return result
    params, _method = xmlrpc.client.loads(
        "<methodResponse><params><param>%s</param></params></methodResponse>" % result)
    return params[0]

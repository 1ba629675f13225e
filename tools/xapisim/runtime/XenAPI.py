"""dom0 ``XenAPI`` module for plugins run by xapisim.

On a real host, plugins reach xapi through ``XenAPI.xapi_local()`` (a Unix socket).
Here the same call returns a session proxy to the simulator that started the plugin
(``XAPISIM_URL``).  The interface is the SDK's: ``Session``, ``Failure``,
``session.xenapi.<class>.<method>(...)``, ``login_with_password``, ``logout``.
Written for xapisim; standard library only.
"""

import os
import xmlrpc.client

API_VERSION_1_1 = "1.1"
API_VERSION_1_2 = "1.2"


class Failure(Exception):
    def __init__(self, details):
        super().__init__(details)
        self.details = details

    def __str__(self):
        return str(self.details)


def _unwrap(result):
    if not isinstance(result, dict) or "Status" not in result:
        raise xmlrpc.client.Fault(500, "Missing Status in response from server")
    if result["Status"] == "Success":
        return result.get("Value", "")
    raise Failure(result.get("ErrorDescription", ["INTERNAL_ERROR", "no ErrorDescription"]))


class _Call:
    def __init__(self, send, name):
        self._send = send
        self._name = name

    def __getattr__(self, attr):
        return _Call(self._send, attr if self._name is None else "%s.%s" % (self._name, attr))

    def __call__(self, *args):
        return self._send(self._name, args)


class Session:
    """An SDK-compatible session object (``_session`` holds the session ref)."""

    def __init__(self, uri=None, transport=None, encoding=None, verbose=False, allow_none=True,
                 ignore_ssl=False):
        self._uri = uri or os.environ.get("XAPISIM_URL", "http://127.0.0.1:8181")
        self._proxy = xmlrpc.client.ServerProxy(self._uri, allow_none=True)
        self._session = None
        self._login = None

    def _rpc(self, name, args):
        return getattr(self._proxy, name)(*args)

    def xenapi_request(self, name, args):
        for _ in range(3):
            try:
                return _unwrap(self._rpc(name, (self._session,) + tuple(args)))
            except Failure as f:
                if f.details and f.details[0] == "SESSION_INVALID" and self._login:
                    self._do_login(*self._login)
                    continue
                raise
        raise xmlrpc.client.Fault(500, "Tried 3 times to get a valid session, but failed")

    def _do_login(self, method, args):
        self._session = _unwrap(self._rpc("session.%s" % method, args))
        self._login = (method, args)

    def login_with_password(self, *args):
        self._do_login("login_with_password", args)

    def login_with_session(self, session_ref):
        """Adopt an existing session (what a plugin gets in argv)."""
        self._session = session_ref

    def logout(self):
        try:
            if self._session:
                _unwrap(self._rpc("session.logout", (self._session,)))
        finally:
            self._session = None
            self._login = None

    @property
    def handle(self):
        return self._session

    @property
    def xenapi(self):
        return _Call(self.xenapi_request, None)


def xapi_local():
    return Session(os.environ.get("XAPISIM_URL", "http://127.0.0.1:8181"))

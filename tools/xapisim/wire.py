"""The wire: HTTP(S) server, XML-RPC / JSON-RPC envelopes, sessions, dispatch, Async tasks, events.

Knows the method registry and the object store (tasks and events are store
objects), nothing of VHD files.
"""

import json
import logging
import socket
import ssl
import threading
import time
import traceback
import uuid as uuidlib
import xmlrpc.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .api import DT, I32, Ctx, Method, check_handles, coerce, now_dt
from .errors import XenAPIError
from .marshal import json_response, json_value, xml_response, xml_value
from .schema import NULL
from .store import new_ref
from .tls_server import TLSHandshakeInThread

log = logging.getLogger("xapisim.wire")


# ------------------------------------------------------------------ marshalling
def from_wire(v):
    """Normalise decoded XML-RPC/JSON values (DateTime objects)."""
    if isinstance(v, xmlrpc.client.DateTime):
        return v
    if isinstance(v, list):
        return [from_wire(x) for x in v]
    if isinstance(v, dict):
        return {k: from_wire(x) for k, x in v.items()}
    return v


# ---------------------------------------------------------------------- sessions
class Sessions:
    def __init__(self, sim, timeout):
        self.sim = sim
        self.timeout = timeout
        self.lock = threading.Lock()
        self.d = {}

    def login(self, user, pw, originator=""):
        cfg = self.sim.config
        if user != cfg.user or pw != cfg.password:
            raise XenAPIError("SESSION_AUTHENTICATION_FAILED", user, "Authentication failure")
        ref = new_ref()
        with self.lock:
            self.d[ref] = {"uuid": str(uuidlib.uuid4()), "user": user, "last": time.time(),
                           "originator": originator, "created": now_dt(), "subs": None, "since": 0}
        return ref

    def check(self, ref):
        with self.lock:
            s = self.d.get(ref) if isinstance(ref, str) else None
            now = time.time()
            if s is not None and self.timeout and now - s["last"] > self.timeout:
                del self.d[ref]
                s = None
            if s is None:
                raise XenAPIError("SESSION_INVALID", ref if isinstance(ref, str) else str(ref))
            s["last"] = now
            return s

    def logout(self, ref):
        with self.lock:
            self.d.pop(ref, None)

    def expire(self, ref):
        with self.lock:
            if ref in ("", "*", None):
                n = len(self.d)
                self.d.clear()
                return n
            return 1 if self.d.pop(ref, None) is not None else 0


# -------------------------------------------------------------------- dispatcher
class Dispatcher:
    def __init__(self, sim):
        self.sim = sim
        self.reg = sim.registry
        self._register()

    # ---- calling
    def call(self, name, params):
        """One API call, checked in the order of xapi's generated server (ocaml/idl/ocaml_backend/
        gen_server.ml): the method, the argument count (session not counted), the arguments'
        types, the session, the async mode; the handles when the call runs."""
        sim = self.sim
        if not isinstance(name, str):
            raise XenAPIError("MESSAGE_METHOD_UNKNOWN", str(name))
        if not name.startswith("sim.") and name != "system.listMethods":
            sim.faults.count(name)
        is_async = name.startswith("Async.")
        base = name[6:] if is_async else name
        m = self.reg.get(base)
        if m is None:
            # xapi tries an unknown name as a host extension, which checks the session first
            if params:
                sim.sessions.check(params[0])
            raise XenAPIError("MESSAGE_METHOD_UNKNOWN", base)
        received = len(params) - (1 if m.session else 0)
        required = len(m.params) - m.optional
        # parameters with defaults are matched as "at least the required ones"; others exactly
        if received < required or (not m.optional and received > required):
            raise XenAPIError("MESSAGE_PARAMETER_COUNT_MISMATCH", base, str(required), str(received))
        args = list(params)
        session = args.pop(0) if m.session else None
        args = [coerce(a, t, pn, None) for a, (pn, t) in zip(args, m.params)]
        if m.session:
            if isinstance(session, str) and session not in ("", "*") and sim.faults.session_expires(name):
                sim.sessions.expire(session)    # this one session only, as its timeout would
            sim.sessions.check(session)
        if is_async and not m.async_ok:
            # Server_helpers.do_dispatch: API.response_of_fault, i.e. ["Fault", text]
            raise XenAPIError("Fault", "No async mode for this operation (rpc: %s)" % base)
        if is_async:
            return self.start_task(m, session, args)
        return self.execute(m, Ctx(sim, session), args)

    def execute(self, m, ctx, args):
        with self.sim.store.lock:
            for a, (_pn, t) in zip(args, m.params):
                check_handles(a, t, self.sim.store)
        self.sim.faults.before(m.name, ctx)
        if m.locked:
            with self.sim.store.lock:
                return m.fn(ctx, *args)
        return m.fn(ctx, *args)

    # ---- tasks
    def new_task(self, label, session=None, descr=""):
        st = self.sim.store
        with st.lock:
            return st.create("task", {
                "name_label": label, "name_description": descr, "status": "pending", "created": now_dt(),
                "resident_on": self.sim.host_ref(), "allowed_operations": ["cancel"],
                "other_config": {},
            })

    def start_task(self, m, session, args):
        st = self.sim.store
        task = self.new_task("Async.%s" % m.name, session)

        def run():
            ctx = Ctx(self.sim, session, task)
            try:
                value = self.execute(m, ctx, args)
                with st.lock:
                    if st.exists("task", task):
                        st.update("task", task, status="success", progress=1.0, finished=now_dt(),
                                  result=xml_value(value), allowed_operations=[])
            except XenAPIError as e:
                self._fail_task(task, e.description)
            except Exception as e:      # noqa: BLE001 - a bug becomes INTERNAL_ERROR, as in xapi
                log.exception("task %s", m.name)
                self._fail_task(task, ["INTERNAL_ERROR", "%s: %s" % (type(e).__name__, e)],
                                traceback.format_exc())
        threading.Thread(target=run, name="task-%s" % m.name, daemon=True).start()
        return task

    def _fail_task(self, task, desc, bt=""):
        st = self.sim.store
        with st.lock:
            if not st.exists("task", task):
                return
            status = "cancelled" if desc and desc[0] == "TASK_CANCELLED" else "failure"
            st.update("task", task, status=status, progress=1.0, finished=now_dt(),
                      error_info=[str(x) for x in desc], allowed_operations=[], backtrace=bt)

    # ---- built-in classes: session, task, event, system
    def _register(self):
        reg, sim = self.reg, self.sim
        st = sim.store
        S = sim.sessions

        def login(ctx, uname, pwd, version="", originator=""):
            return S.login(uname, pwd, originator)
        reg["session.login_with_password"] = Method(
            "session.login_with_password", login,
            [("uname", "s"), ("pwd", "s"), ("version", "s"), ("originator", "s")],
            session=False, async_ok=False, locked=False, optional=2)

        def logout(ctx):
            S.logout(ctx.session)
            return ""
        reg["session.logout"] = Method("session.logout", logout, [], async_ok=False, locked=False)
        reg["session.local_logout"] = Method("session.local_logout", logout, [], async_ok=False, locked=False)

        def this_session(ref):
            return S.check(ref)

        reg.add("session.get_this_host", [("self", "s")], async_ok=False)(
            lambda ctx, s: (this_session(s), sim.host_ref())[1])
        reg.add("session.get_this_user", [("self", "s")], async_ok=False)(
            lambda ctx, s: (this_session(s), NULL)[1])
        reg.add("session.get_uuid", [("self", "s")], async_ok=False)(lambda ctx, s: this_session(s)["uuid"])
        reg.add("session.get_auth_user_name", [("self", "s")], async_ok=False)(
            lambda ctx, s: this_session(s)["user"])
        reg.add("session.get_is_local_superuser", [("self", "s")], async_ok=False)(lambda ctx, s: True)

        def srec(ctx, s):
            d = this_session(s)
            return {"uuid": d["uuid"], "this_host": sim.host_ref(), "this_user": NULL,
                    "last_active": DT(now_dt()), "pool": False, "other_config": {},
                    "is_local_superuser": True, "subject": NULL, "validation_time": DT(d["created"]),
                    "auth_user_sid": "", "auth_user_name": d["user"], "rbac_permissions": [],
                    "tasks": [], "parent": NULL, "originator": d["originator"],
                    "client_certificate": False}
        reg.add("session.get_record", [("self", "s")], async_ok=False)(srec)

        # tasks
        def task_create(ctx, label, descr):
            return self.new_task(label, ctx.session, descr)
        reg.add("task.create", [("label", "s"), ("description", "s")], async_ok=False)(task_create)

        def task_cancel(ctx, task):
            t = st.get("task", task)
            if t["status"] != "pending":
                raise XenAPIError("OPERATION_NOT_ALLOWED", "task %s is not pending" % task)
            st.update("task", task, status="cancelling", allowed_operations=[])
            return ""
        reg.add("task.cancel", [("task", "ref:task")])(task_cancel)

        def task_set_status(ctx, task, value):
            st.update("task", task, status=value)
            return ""
        reg.add("task.set_status", [("self", "ref:task"), ("value", "e:task_status_type")],
                async_ok=False)(task_set_status)
        reg.add("task.set_progress", [("self", "ref:task"), ("value", "f")], async_ok=False)(
            lambda ctx, t, v: (st.update("task", t, progress=v), "")[1])

        # events
        def ev_from(ctx, classes, token, timeout):
            since = st.parse_token(token)
            subs = st.parse_subs(classes)
            deadline = time.time() + max(0.0, float(timeout))
            with st.cond:
                while True:
                    evs = st.events_since(since, subs)
                    remaining = deadline - time.time()
                    if evs or remaining <= 0:
                        break
                    st.cond.wait(min(remaining, 5.0))
                counts = {k: I32(v) for k, v in st.valid_ref_counts(subs).items()}
                return {"events": evs, "valid_ref_counts": counts, "token": st.token()}
        reg["event.from"] = Method("event.from", ev_from,
                                   [("classes", "set:s"), ("token", "s"), ("timeout", "f")],
                                   async_ok=False, locked=False)

        def ev_register(ctx, classes):
            s = S.check(ctx.session)
            with st.lock:
                subs = (s["subs"] or []) + st.parse_subs(classes)
                s["subs"] = subs
                if not s["since"]:
                    s["since"] = st.gen
            return ""
        reg.add("event.register", [("classes", "set:s")], async_ok=False)(ev_register)

        def ev_unregister(ctx, classes):
            s = S.check(ctx.session)
            drop = st.parse_subs(classes)
            s["subs"] = [x for x in (s["subs"] or []) if x not in drop]
            return ""
        reg.add("event.unregister", [("classes", "set:s")], async_ok=False)(ev_unregister)

        def ev_next(ctx):
            s = S.check(ctx.session)
            if s["subs"] is None:
                raise XenAPIError("SESSION_NOT_REGISTERED", ctx.session)
            with st.cond:
                while True:
                    evs = st.events_since(s["since"], s["subs"])
                    if evs:
                        break
                    st.cond.wait(5.0)
                    S.check(ctx.session)
                s["since"] = st.gen
            out = []
            for e in evs:
                e = dict(e)
                e["timestamp"] = DT(time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime(float(e["timestamp"]))))
                snap = e.get("snapshot") or {}
                e["obj_uuid"] = snap.get("uuid", "")
                out.append(e)
            return out
        reg["event.next"] = Method("event.next", ev_next, [], async_ok=False, locked=False)
        reg.add("event.get_current_id", [], async_ok=False)(lambda ctx: str(st.gen))

        def ev_inject(ctx, cls, ref):
            from .schema import find_class
            c = find_class(cls)
            if c is None or not st.exists(c, ref):
                raise XenAPIError("HANDLE_INVALID", cls, ref)
            st.touch(c, ref)
            return st.token()
        reg.add("event.inject", [("class", "s"), ("ref", "s")], async_ok=False)(ev_inject)

        reg["system.listMethods"] = Method(
            "system.listMethods", lambda ctx: sorted(reg.keys()), [], session=False, async_ok=False)


# ------------------------------------------------------------------- HTTP server
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xapisim/1.0"

    def log_message(self, fmt, *args):
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, code, body, ctype):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _route(self, method):
        """A handler another module registered for (method, path): the disk transfer handlers."""
        return self.server.sim.http_routes.get((method, self.path.split("?", 1)[0]))

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        route = self._route("GET")
        if route is not None:
            route(self)
        elif path in ("/", "/RPC2"):
            self._send(200, "xapisim %s\n" % self.server.sim.config.name, "text/plain")
        else:
            self._send(404, "not found\n", "text/plain")

    def _routed_only(self, method):
        """CONNECT and PUT: only the registered handlers answer them (the console, disk imports)."""
        route = self._route(method)
        if route is not None:
            route(self)
        else:
            self.close_connection = True
            self._send(404, "not found\n", "text/plain")

    def do_CONNECT(self):
        self._routed_only("CONNECT")

    def do_PUT(self):
        self._routed_only("PUT")

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        route = self._route("POST")
        if route is not None:
            route(self)
            return
        try:
            body = self._body()
        except (OSError, ValueError):
            return
        disp = self.server.sim.dispatcher
        if path in ("/", "/RPC2"):
            self._send(200, self._xmlrpc(disp, body), "text/xml")
        elif path == "/jsonrpc":
            self._send(200, self._jsonrpc(disp, body), "application/json")
        elif path.startswith("/sim/"):
            code, out = self._sim(path[5:], body)
            self._send(code, out, "application/json")
        else:
            self._send(404, "not found\n", "text/plain")

    @staticmethod
    def _envelope_call(disp, name, params):
        try:
            return {"Status": "Success", "Value": disp.call(name, params)}
        except XenAPIError as e:
            return {"Status": "Failure", "ErrorDescription": e.description}
        except Exception as e:     # noqa: BLE001
            log.exception("call %s", name)
            return {"Status": "Failure", "ErrorDescription": ["INTERNAL_ERROR", "%s: %s" % (type(e).__name__, e)]}

    def _xmlrpc(self, disp, body):
        try:
            params, name = xmlrpc.client.loads(body, use_datetime=False)
        except Exception as e:     # noqa: BLE001
            res = {"Status": "Failure", "ErrorDescription": ["XMLRPC_UNMARSHAL_FAILURE", "methodCall", str(e)]}
            return xml_response(res)
        res = self._envelope_call(disp, name, [from_wire(p) for p in params])
        if name == "system.listMethods" and res["Status"] == "Success":
            # xapi's Api_server.callback answers this one without the Status envelope
            return xml_response(res["Value"])
        return xml_response(res)

    def _jsonrpc(self, disp, body):
        try:
            req = json.loads(body or b"{}")
        except ValueError as e:
            return json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "PARSE_ERROR",
                                                                     "data": [str(e)]}})
        v2 = req.get("jsonrpc") == "2.0"
        rid = req.get("id")
        name = req.get("method")
        res = self._envelope_call(disp, name, list(req.get("params") or []))
        if res["Status"] == "Success":
            return json.dumps(json_response(v2, rid, True, json_value(res["Value"])))
        desc = res["ErrorDescription"]
        if v2 and name != "system.listMethods":
            # Api_server.callback1: JSON-RPC 2.0 errors become {code: 1, message: CODE, data: [params]}
            return json.dumps(json_response(v2, rid, False, {"code": 1, "message": desc[0], "data": desc[1:]}))
        return json.dumps(json_response(v2, rid, False, desc))

    def _sim(self, name, body):
        try:
            args = json.loads(body) if body.strip() else []
            if isinstance(args, dict):
                args = args.get("args", [])
            if not isinstance(args, list):
                raise ValueError("body must be a JSON list of arguments")
        except ValueError as e:
            return 400, json.dumps({"Status": "Failure", "ErrorDescription": ["FIELD_TYPE_ERROR", str(e)]})
        try:
            value = self.server.sim.sim_call(name, args)
            return 200, json.dumps({"Status": "Success", "Value": json_value(value)})
        except XenAPIError as e:
            code = 404 if e.code == "MESSAGE_METHOD_UNKNOWN" else 200
            return code, json.dumps({"Status": "Failure", "ErrorDescription": e.description})


class Server(TLSHandshakeInThread, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, sim, tls=None):
        self.sim = sim
        self.tls = tls
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = super().get_request()
        # An answer goes out as two writes (headers, then body): with Nagle's algorithm the body waits
        # for the ACK of the headers, which the client delays - 40 ms added to every call.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr

    def handle_error(self, request, client_address):
        log.debug("connection error from %s", client_address, exc_info=True)


def make_servers(sim, host, port, https_port=None, cert=None, key=None):
    servers = [Server((host, port), sim)]
    if https_port is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        servers.append(Server((host, https_port), sim, ctx))
    return servers


def serve(servers):
    threads = []
    for s in servers:
        t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        t.start()
        threads.append(t)
    return threads

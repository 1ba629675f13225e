"""``CONNECT /console``: a VM's console as xapi serves it, then an RFB server drawing the VM.

After xen-api's ocaml/xapi/console.ml and xapi_http.ml:

* The console is named by ``ref=`` (a console reference, or a VM's: its ``rfb`` console) or
  ``uuid=`` (a VM's uuid first, then a console's), the form of ``console.location``.
* Credentials as every xapi HTTP handler: ``session_id`` (cookie, then query) or HTTP Basic;
  none valid: ``401 Unauthorised`` with ``WWW-Authenticate: Basic realm="connect_console"``
  (xapi_http raises ``Http.Unauthorised`` for a session it does not find).
* A request naming no console, a console that does not exist, or one whose VM is not
  running here: ``404`` (console.ml ``check_vm_is_running_here`` / ``http_404_missing``).
* Otherwise ``HTTP/1.0 200 OK`` and the connection is the VM's RFB console (no
  authentication inside: xapi proxies to the VNC server on localhost).

The simulated display shows the VM's name label and power state, redrawn when they change;
the connection ends when the VM halts or suspends (its console is destroyed); a paused VM's
display stays connected (showing "Paused"), as QEMU's VNC server does, though a new
connection to it is refused as xapi refuses it.
"""

import logging

from .http_vdi import Handlers, Request, Unauthorised
from .rfb import Framebuffer, Session, text_height

log = logging.getLogger("xapisim.console")

REALM = "connect_console"
WIDTH, HEIGHT = 640, 160
PALETTE = [(16, 32, 64), (255, 255, 255), (128, 255, 128)]      # background, name, power state
NAME_SCALE, STATE_SCALE = 4, 3
NAME_AT = (16, 24)
STATE_AT = (16, 24 + text_height(NAME_SCALE) + 24)


def draw(name_label, power_state):
    """The framebuffer of a VM's console: its name label over its power state."""
    fb = Framebuffer(WIDTH, HEIGHT, PALETTE)
    fb.text(NAME_AT[0], NAME_AT[1], name_label, 1, NAME_SCALE)
    fb.text(STATE_AT[0], STATE_AT[1], "power state: %s" % power_state, 2, STATE_SCALE)
    return fb


class VMScreen:
    """What the console shows, read from the store at each look."""

    def __init__(self, sim, console):
        self.sim = sim
        self.console = console
        self.drawn = None
        self.fb = None
        self.version = 0

    def _facts(self):
        st = self.sim.store
        with st.lock:
            if not st.exists("console", self.console):
                return None
            vm = st.get("VM", st.get("console", self.console)["VM"])
            return vm["name_label"], vm["power_state"]

    def alive(self):
        facts = self._facts()
        return facts is not None and facts[1] in ("Running", "Paused")     # a paused guest's display stays

    def current(self):
        facts = self._facts() or self.drawn
        if facts != self.drawn:
            self.drawn = facts
            self.fb = draw(*facts)
            self.version += 1
        return self.version, self.fb


class ConsoleHandler:
    def __init__(self, sim):
        self.sim = sim
        self.pages = Handlers(sim)

    def _console_of(self, req):
        """The console reference the request names, or None (xapi: console_of_request)."""
        st = self.sim.store
        with st.lock:
            uuid = req.query.get("uuid")
            if uuid is not None:
                ref = self._by_uuid("VM", uuid) or self._by_uuid("console", uuid)
            else:
                ref = req.query.get("ref")
            if not ref:
                return None
            if st.exists("console", ref):
                return ref
            if st.exists("VM", ref):
                for c, obj in st.items("console"):
                    if obj["VM"] == ref and obj["protocol"] == "rfb":
                        return c
            return None

    def _by_uuid(self, cls, uuid):
        for ref, obj in self.sim.store.items(cls):
            if obj["uuid"] == uuid:
                return ref
        return None

    def _running_here(self, console):
        st = self.sim.store
        with st.lock:
            vm = st.get("VM", st.get("console", console)["VM"])
            return vm["power_state"] == "Running" and vm["resident_on"] == self.sim.host_ref()

    def connect(self, h):
        req = Request(h)
        h.close_connection = True
        try:
            session, temporary = self.pages._authenticate(req)   # pylint: disable=protected-access
        except Unauthorised:
            self.pages._unauthorised(h, REALM)                  # pylint: disable=protected-access
            return
        try:
            console = self._console_of(req)
            if console is None or not self._running_here(console):
                self.pages._error_page(h, 404, "Not Found",       # pylint: disable=protected-access
                                       "xapisim: no running VM's console is named by the request.")
                return
            h.wfile.write(b"HTTP/1.0 200 OK\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\n\r\n")
            h.wfile.flush()
            screen = VMScreen(self.sim, console)
            _version, _fb = screen.current()
            Session(h.connection, screen, screen.drawn[0]).run()
        finally:
            if temporary:
                self.sim.sessions.logout(session)


def register(sim):
    sim.http_routes[("CONNECT", "/console")] = ConsoleHandler(sim).connect

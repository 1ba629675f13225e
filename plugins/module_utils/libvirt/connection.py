# -*- coding: utf-8 -*-
# Copyright (c) 2026, novaops.compute contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libvirt connection by URI, domain look-up, the domain state machine and timed waits.

libvirtError becomes LibvirtError with ``libvirt_error: {code, domain, message}``.

Waits are event-driven: libvirt's default event loop runs in a daemon thread (registered
before the first connection is opened, which every LibvirtConnection does), and a domain
lifecycle event (started, suspended, resumed, stopped - a guest-initiated shutdown and a
killed QEMU included -, saved, undefined) wakes the waiter, who then reads the state.
The state read stays the judge; the events only end the sleeping, and a slow re-check
covers a lost event or a connection opened without the loop.

libvirtd restarted (or crashed) while a wait runs: the wait notices the closed connection
at its next read, opens a new one to the same URI (trying until libvirtd answers again,
within the wait's own timeout), points the LibvirtConnection and the awaited domain
object at it, and goes on waiting.  QEMU outlives libvirtd, so the domain is still there.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
import weakref
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import env_fallback

from ansible_collections.novaops.compute.plugins.module_utils.common.argspec import ArgumentSpec
from ansible_collections.novaops.compute.plugins.module_utils.common.errors import NovaopsError, WaitTimeout

try:
    import libvirt
    HAS_LIBVIRT = True
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    HAS_LIBVIRT = False
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

DEFAULT_URI = "qemu:///system"

# virDomainState, by number so that the table exists without the binding.
STATE_NAMES = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",   # being shut down
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}


# virDomainEventID of lifecycle events.
EVENT_ID_LIFECYCLE = 0
# How often a wait re-reads the state when events can wake it (a safety net for a lost
# event), and the back-off of a wait without events.
EVENT_RECHECK = 2.0
POLL_FIRST, POLL_MAX = 0.05, 0.5
# Pauses between attempts to open a connection again while libvirtd restarts.
RECONNECT_FIRST, RECONNECT_MAX = 0.2, 2.0

_events_lock = threading.Lock()
_events_enabled = None


def enable_events():
    """Register libvirt's default event loop and run it in a daemon thread (once per process).

    Returns whether events are available.  Only connections opened afterwards deliver
    events, so LibvirtConnection calls it before it opens; a failure only means waits poll.
    """
    global _events_enabled  # pylint: disable=global-statement
    with _events_lock:
        if _events_enabled is not None:
            return _events_enabled
        if not HAS_LIBVIRT:
            _events_enabled = False
            return False
        try:
            libvirt.virEventRegisterDefaultImpl()
        except libvirt.libvirtError:
            _events_enabled = False
            return False
        thread = threading.Thread(target=_run_event_loop, name="libvirt-events", daemon=True)
        thread.start()
        _events_enabled = True
        return True


def events_enabled():
    return bool(_events_enabled)


def _run_event_loop():
    while True:
        try:
            libvirt.virEventRunDefaultImpl()
        except Exception:  # pylint: disable=broad-except
            time.sleep(0.1)   # the loop must outlive one bad callback


def libvirt_argument_spec():
    """Connection options shared by every libvirt module (doc fragment novaops.compute.libvirt)."""
    return ArgumentSpec(dict(
        uri=dict(type="str", default=DEFAULT_URI, fallback=(env_fallback, ["LIBVIRT_DEFAULT_URI"])),
    ))


# libvirt refuses '/' and line breaks in a domain name, and keeps its config as <name>.xml,
# which must fit a file name; white space around a name is never meant.
DOMAIN_NAME_MAX = 200


def check_domain_name(name):
    """A NovaopsError unless libvirt can define a domain of that name."""
    if not name or name != name.strip() or len(name.encode("utf-8")) > DOMAIN_NAME_MAX or "/" in name or \
            any(not char.isprintable() for char in name):
        raise NovaopsError("%r is not a usable domain name: 1 to %d bytes, no '/', no control characters, no "
                           "white space around it." % (name[:60], DOMAIN_NAME_MAX))
    return name


class LibvirtError(NovaopsError):
    """A libvirtError, as ``libvirt_error: {code, domain, message}`` plus a sentence."""

    def __init__(self, code, domain, message, msg=None):
        self.code = code
        self.domain = domain
        self.message = message
        super().__init__(msg or "libvirt: %s" % message,
                         libvirt_error=dict(code=code, domain=domain, message=message))

    @classmethod
    def from_exception(cls, exc, msg=None):
        message = exc.get_error_message() or str(exc)
        return cls(exc.get_error_code(), exc.get_error_domain(), message,
                   msg="%s: %s" % (msg, message) if msg else None)


def is_libvirt_error(exc):
    return HAS_LIBVIRT and isinstance(exc, libvirt.libvirtError)


def no_domain(exc):
    return is_libvirt_error(exc) and exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


# The LibvirtConnection that opened each virConnect, so that a wait given only a domain can
# reconnect its owner.
_owners = weakref.WeakKeyDictionary()


class LibvirtConnection:
    """An open libvirt connection; use as a context manager.

    libvirtError escaping the ``with`` block becomes LibvirtError.  ``reconnects`` counts the
    times a wait had to open the connection again (libvirtd restarted meanwhile).
    """

    def __init__(self, uri):
        if not HAS_LIBVIRT:
            raise NovaopsError("libvirt-python is required on the managed node (pip install libvirt-python).",
                               exception=LIBVIRT_IMPORT_ERROR)
        self.uri = uri or DEFAULT_URI
        self.conn = None
        self.reconnects = 0

    @classmethod
    def from_params(cls, params):
        return cls(params["uri"])

    def __enter__(self):
        enable_events()
        try:
            self.conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise LibvirtError.from_exception(exc, "Cannot connect to libvirt at %s" % self.uri) from exc
        _owners[self.conn] = self
        return self

    def reconnect(self, timeout):
        """A new connection to the same URI after the old one was lost, tried until libvirtd
        answers again; ``timeout`` bounds the trying.  Returns the new virConnect."""
        try:
            self.conn.close()
        except libvirt.libvirtError:
            pass        # a lost connection may refuse even to close
        deadline = time.monotonic() + timeout
        pause = RECONNECT_FIRST
        while True:
            try:
                self.conn = libvirt.open(self.uri)
                break
            except libvirt.libvirtError as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LibvirtError.from_exception(
                        exc, "The connection to libvirt at %s was lost and libvirtd did not answer again "
                             "within %ss" % (self.uri, round(timeout, 1))) from exc
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, RECONNECT_MAX)
        _owners[self.conn] = self
        self.reconnects += 1
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if self.conn is not None:
            try:
                self.conn.close()
            except libvirt.libvirtError:
                pass
            self.conn = None
        if exc is not None and is_libvirt_error(exc):
            raise LibvirtError.from_exception(exc) from exc
        return False

    def lookup(self, name=None, uuid=None, required=False):
        """The domain by uuid or name, or None (an error when ``required``)."""
        try:
            if uuid:
                return self.conn.lookupByUUIDString(uuid)
            return self.conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if not no_domain(exc) and exc.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
                raise
            if required:
                raise NovaopsError("No libvirt domain %s at %s. Nothing was changed." % (
                    "with UUID %s (uuid)" % uuid if uuid else "named %r (name)" % name, self.uri),
                    libvirt_error=dict(code=exc.get_error_code(), domain=exc.get_error_domain(),
                                       message=exc.get_error_message())) from exc
            return None

    def host_uuid(self):
        """The host UUID libvirt reports in its capabilities: two URIs that give the same one reach one libvirtd."""
        return ET.fromstring(self.conn.getCapabilities()).findtext("host/uuid")


def connection_lost(dom):
    """Whether the domain's connection is gone (libvirtd stopped or restarted since it opened)."""
    try:
        return not dom.connect().isAlive()
    except libvirt.libvirtError:
        return True


def reconnect_domain(dom, timeout):
    """Reconnect the LibvirtConnection that owns ``dom`` and point ``dom`` at the new connection.

    The domain object itself is renewed in place, so the caller's reference (and any other)
    keeps working; other objects of the old connection stay dead.  Raises the NovaopsError
    of a failed reconnect; a domain gone meanwhile is a libvirtError VIR_ERR_NO_DOMAIN.
    """
    owner = _owners.get(dom.connect())
    if owner is None:
        raise NovaopsError("The connection to libvirt was lost while waiting for domain %s, and it was "
                           "not opened by a LibvirtConnection that could open it again." % dom.name())
    uuid = dom.UUIDString()       # kept by the binding itself: readable without the daemon
    fresh = owner.reconnect(timeout).lookupByUUIDString(uuid)
    # the binding's virDomain holds its C object in _o and its connection in _conn; swapping
    # lets the stale C object be freed with ``fresh`` while ``dom`` lives on, renewed
    dom._o, fresh._o = fresh._o, dom._o       # pylint: disable=protected-access
    dom._conn = fresh._conn                   # pylint: disable=protected-access


def domain_state(dom):
    """``(state_name, reason_code)``; a shut-off domain with a managed-save image is 'saved'."""
    state, reason = dom.state()
    name = STATE_NAMES.get(state, "unknown")
    if name == "shutoff" and dom.hasManagedSaveImage(0):
        name = "saved"
    return name, reason


class LifecycleEvents(contextlib.AbstractContextManager):
    """Lifecycle events of one domain wake wait(); registered until close() (a context manager).

    Without the event loop (or when the driver refuses the registration) ``active`` is False
    and wait() is a plain sleep.  A subclass watches another event by its ``EVENT_ID``
    (libvirt_blockjob.BlockJobEvents), with its own ``_on_event``.
    """

    EVENT_ID = EVENT_ID_LIFECYCLE

    def __init__(self, dom):
        self._wake = threading.Event()
        self._conn = None
        self._callback_id = None
        if events_enabled():
            try:
                self._conn = dom.connect()
                self._callback_id = self._conn.domainEventRegisterAny(
                    dom, self.EVENT_ID, self._on_event, None)
            except libvirt.libvirtError:
                self._callback_id = None

    @property
    def active(self):
        return self._callback_id is not None

    def _on_event(self, _conn, _dom, _event, _detail, _opaque):
        self._wake.set()

    def clear(self):
        self._wake.clear()

    def wait(self, seconds):
        """Sleep until the next lifecycle event of the domain, at most ``seconds``."""
        self._wake.wait(seconds)

    def close(self):
        if self._callback_id is not None:
            try:
                self._conn.domainEventDeregisterAny(self._callback_id)
            except libvirt.libvirtError:
                pass
            self._callback_id = None

    def __exit__(self, *exc):
        self.close()


def wait_for_state(dom, wanted, timeout, what=None):
    """Wait until the domain's state is one of ``wanted``, woken by its lifecycle events.

    Returns the state reached.  A domain that disappears meanwhile counts as 'undefined'.
    Without events it polls, backing off from 50 ms to 0.5 s.  A connection lost meanwhile
    (libvirtd restarted) is opened again and the wait goes on (reconnect_domain).
    """
    wanted = set([wanted] if isinstance(wanted, str) else wanted)
    deadline = time.monotonic() + timeout
    pause = POLL_FIRST
    events = LifecycleEvents(dom)
    try:
        while True:
            events.clear()    # before the read: an event after it still wakes the wait below
            try:
                name, _reason = domain_state(dom)
            except Exception as exc:
                if is_libvirt_error(exc) and not no_domain(exc) and connection_lost(dom):
                    events.close()
                    try:
                        reconnect_domain(dom, max(deadline - time.monotonic(), 0))
                    except Exception as gone:
                        if not no_domain(gone):
                            raise
                        return _undefined_or_gone(wanted, dom)
                    events = LifecycleEvents(dom)
                    continue
                if not no_domain(exc):
                    raise
                name = "undefined"
            if name in wanted:
                return name
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(what or "domain %s to be %s (it is %s)" % (
                    dom.name(), "/".join(sorted(wanted)), name), timeout)
            if events.active:
                events.wait(min(EVENT_RECHECK, remaining))
            else:
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, POLL_MAX)
    finally:
        events.close()


def _undefined_or_gone(wanted, dom):
    """A domain libvirtd no longer knows once it answers again (a transient one ended with it)."""
    if "undefined" in wanted:
        return "undefined"
    raise NovaopsError("Domain %s is gone: libvirtd restarted while waiting for it to be %s, and no "
                       "longer knows it." % (dom.name(), "/".join(sorted(wanted))))


def power_off(dom, timeout):
    """Nova's power off: a clean ACPI shutdown waited for ``timeout`` seconds, then destroy.

    Returns 'shutdown' or 'destroyed' (what it took), or None when the domain was not running.
    A paused domain cannot answer ACPI, so it is destroyed at once.
    """
    if not dom.isActive():
        return None
    if domain_state(dom)[0] != "paused":
        try:
            dom.shutdown()
            wait_for_state(dom, ["shutoff", "crashed"], timeout)
            return "shutdown"
        except WaitTimeout:
            pass
        except libvirt.libvirtError:
            if not dom.isActive():
                return "shutdown"
    if dom.isActive():
        dom.destroy()
    wait_for_state(dom, ["shutoff", "crashed"], timeout, what="domain %s to be destroyed" % dom.name())
    return "destroyed"


def vif_ovs_ports(ovs, iface_id, mac=None):
    """Names of the OVS interfaces carrying a VIF (external_ids iface-id, and attached-mac if given).

    ``ovs`` is an ``ovs.OVS``; libvirt sets these external_ids when it plugs a
    ``virtualport type='openvswitch'`` tap, so an empty list means the port is gone.
    """
    rows = ovs.find("Interface", ("external_ids:iface-id", "=", iface_id), columns=["name", "external_ids"])
    names = []
    for row in rows:
        ids = row.get("external_ids") or {}
        if mac and ids.get("attached-mac") and ids["attached-mac"].lower() != mac.lower():
            continue
        names.append(row.get("name"))
    return sorted(names)


def quiet_libvirt_errors():
    """Stop libvirt's default error handler printing every libvirtError to stderr.

    The errors still raise (and become LibvirtError); a look-up of a domain that does not exist
    is an expected answer and must not leave noise in the module's stderr.
    """
    if HAS_LIBVIRT:
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

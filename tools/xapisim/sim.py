"""The simulator object that ties the pieces together: config, store, sessions, methods, GC."""

import json
import logging
import os
import shutil
import threading
from dataclasses import dataclass, field

from . import faults as faults_mod
from . import gc as gc_mod
from . import console, dom0_ovs, http_vdi, inventory, migrate, migrate_receive, plugins, pool_hosts, storage, vm
from .api import Registry
from .store import Persister, Store, register_generic
from .wire import Dispatcher, Sessions

log = logging.getLogger("xapisim")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass
class Config:
    name: str = "pool-a"
    host: str = "127.0.0.1"
    port: int = 8181
    https_port: int = None
    cert: str = None
    key: str = None
    state_dir: str = "/tmp/xapisim"
    user: str = "root"
    password: str = "password"
    plugin_dirs: list = field(default_factory=list)
    device_dir: str = None
    sr_size: int = 64 * 1024 ** 3
    gc_delay: float = 2.0
    session_timeout: float = 24 * 3600.0
    shutdown_timeout: float = 1.0
    hosts: int = 1                  # hosts in the pool, sharing its SR
    dom0_ovs: bool = False        # VIF ports vif<domid>.<device> on this machine's Open vSwitch

    def __post_init__(self):
        self.state_dir = os.path.abspath(self.state_dir)
        if not self.plugin_dirs:
            self.plugin_dirs = [os.path.join(REPO_ROOT, "files", "xapi.d", "plugins")]
        if not self.device_dir:
            self.device_dir = os.path.join(self.state_dir, "dev")

    @property
    def http_url(self):
        return "http://%s:%d" % (self.host, self.port)

    @property
    def https_url(self):
        return "https://%s:%d" % (self.host, self.https_port) if self.https_port else ""


class Sim:
    def __init__(self, config):
        self.config = config
        self.store = Store()
        self.registry = Registry()
        self.faults = faults_mod.Faults()
        self.sessions = Sessions(self, config.session_timeout)
        self.ignore_shutdown = set()
        self.persister = None
        self.http_routes = {}       # (method, path) -> fn(request handler), beside the RPC paths
        os.makedirs(config.state_dir, exist_ok=True)
        os.makedirs(config.device_dir, exist_ok=True)
        self.db_path = os.path.join(config.state_dir, "db.json")
        self.identity = self._identity()
        self.gc = gc_mod.GC(self)
        self.dom0_ports = dom0_ovs.Dom0Ports(self, config.dom0_ovs)
        register_generic(self.registry, self)
        inventory.register(self.registry, self)
        vm.register(self.registry, self)
        migrate.register(self.registry, self)
        migrate_receive.register(self)
        storage.register(self.registry, self)
        http_vdi.register(self)
        console.register(self)
        plugins.register(self.registry, self)
        faults_mod.register(self.registry, self)
        self.dispatcher = Dispatcher(self)
        self._load_or_create()

    # ---------------------------------------------------------------- identity
    def _identity(self):
        path = os.path.join(self.config.state_dir, "identity.json")
        ident = None
        if os.path.exists(path):
            with open(path) as fh:
                ident = json.load(fh)
        self.identity = ident or inventory.new_identity()
        _members, changed = pool_hosts.member_identities(self)
        if ident is not None and not changed:
            return ident
        ident = self.identity
        with open(path + ".tmp", "w") as fh:
            json.dump(ident, fh, indent=1)
        os.replace(path + ".tmp", path)
        return ident

    def sr_dir(self, sr_uuid):
        return os.path.join(self.config.state_dir, "sr", sr_uuid)

    def host_ref(self):
        return self.identity["host_ref"]

    def helper_uuid(self):
        return self.identity["helper_vm"]

    # ------------------------------------------------------------ lifecycle
    def _load_or_create(self):
        if os.path.exists(self.db_path):
            with open(self.db_path) as fh:
                self.store.load(json.load(fh))
            with self.store.lock:
                pool_hosts.create(self)         # hosts added to the pool since the db was written
            # VDIs plugged into the helper keep their device files; nothing else to redo
        else:
            with self.store.lock:
                inventory.create(self)
                pool_hosts.create(self)
        self.store.dirty = True

    def start(self):
        self.persister = Persister(self.store, self.db_path)
        self.persister.start()
        self.persister.flush()
        self.gc.start()

    def stop(self):
        self.gc.stop()
        if self.persister:
            self.persister.stop()

    def reset(self):
        """Back to the initial inventory: objects, SR files, device files, faults, counters."""
        st = self.store
        with st.lock:
            st.clear()
            sr_root = os.path.join(self.config.state_dir, "sr")
            shutil.rmtree(sr_root, ignore_errors=True)
            if os.path.isdir(self.config.device_dir):
                for name in os.listdir(self.config.device_dir):
                    try:
                        os.unlink(os.path.join(self.config.device_dir, name))
                    except OSError:
                        pass
            self.faults.clear()
            with self.faults.lock:
                self.faults.counters.clear()
            self.ignore_shutdown.clear()
            self.gc.reset()
            inventory.create(self)
            pool_hosts.create(self)
        if self.persister:
            self.persister.flush()

    def sim_call(self, name, args):
        return faults_mod.sim_call(self, name, args)

    def ready_facts(self):
        c = self.config
        return {"name": c.name, "http": c.http_url, "https": c.https_url,
                "helper_vm": self.helper_uuid(), "sr": self.identity["sr"], "pool": self.identity["pool"],
                "host": self.identity["host"], "state_dir": c.state_dir, "device_dir": c.device_dir,
                "user": c.user, "pid": os.getpid()}

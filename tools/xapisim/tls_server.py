"""The HTTPS port's TLS: the collection's plugins/module_utils/common/tls_server.py, the file the console
proxy's server uses, loaded by its path in this repository (it imports only the standard library), so
that the simulator and the proxy share one handshake."""

import importlib.util
import os

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "plugins", "module_utils", "common", "tls_server.py")

_spec = importlib.util.spec_from_file_location("novaops_tls_server", PATH)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

TLSHandshakeInThread = _module.TLSHandshakeInThread

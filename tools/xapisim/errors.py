"""The one exception type the simulator raises for an API-level failure.

It travels to the client as ``{'Status': 'Failure', 'ErrorDescription': [code, *params]}``
(XML-RPC) or as a JSON-RPC error object.  Every parameter is a string, as on xapi.
"""


class XenAPIError(Exception):
    def __init__(self, code, *params):
        super().__init__(code, *params)
        self.code = str(code)
        self.params = [str(p) for p in params]

    @property
    def description(self):
        return [self.code] + self.params

    def __str__(self):
        return str(self.description)


def handle_invalid(cls, ref):
    return XenAPIError("HANDLE_INVALID", cls, ref)


def uuid_invalid(cls, uuid):
    return XenAPIError("UUID_INVALID", cls, uuid)


def bad_power_state(vm_ref, expected, actual):
    return XenAPIError("VM_BAD_POWER_STATE", vm_ref, expected, actual.lower())


def sr_backend_failure(code, msg, opterr=""):
    """SM errors as xapi forwards them: SR_BACKEND_FAILURE_<n> ['', text, '']."""
    text = msg if not opterr else "%s [opterr=%s]" % (msg, opterr)
    return XenAPIError("SR_BACKEND_FAILURE_%d" % code, "", text, "")


def no_space():
    return sr_backend_failure(44, "There is insufficient space")

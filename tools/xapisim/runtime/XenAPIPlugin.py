"""dom0 plugin runtime for xapisim: the ``XenAPIPlugin`` module a plugin imports.

Same contract as on a real host: ``dispatch({"fn": fn})`` reads the XML-RPC
methodCall from argv[1] (params: session ref, args struct), calls ``fn(session, args)``
with a session logged in to the calling simulator, and prints a methodResponse
holding ``{'Status': 'Success', 'Value': result}`` or
``{'Status': 'Failure', 'ErrorDescription': [...]}`` on stdout.
Written for xapisim; standard library only.
"""

import sys
import xmlrpc.client

import XenAPI


class Failure(Exception):
    """Raise ``Failure(code, [params])`` to make the API call fail with [code, *params]."""

    def __init__(self, code, params):
        super().__init__(code, params)
        self.params = [code] + list(params)

    def __str__(self):
        return str(self.params)


def success_message(result):
    return xmlrpc.client.dumps(({"Status": "Success", "Value": result},), "", True, allow_none=True)


def failure_message(description):
    return xmlrpc.client.dumps(({"Status": "Failure", "ErrorDescription": description},), "", True,
                               allow_none=True)


def session_for(session_ref):
    x = XenAPI.xapi_local()
    if hasattr(x, "login_with_session"):
        x.login_with_session(session_ref)
    else:
        x._session = session_ref
    return x


def dispatch(fn_table):
    if len(sys.argv) != 2:
        raise Exception("Incorrect number of commandline arguments")
    params, methodname = xmlrpc.client.loads(sys.argv[1])
    session_ref, args = params[0], params[1]
    if methodname not in fn_table:
        print(failure_message(["UNKNOWN_XENAPI_PLUGIN_FUNCTION", methodname]))
        return
    x = session_for(session_ref)
    try:
        result = fn_table[methodname](x, args)
        print(success_message(result))
    except SystemExit:
        raise
    except Failure as e:
        print(failure_message(e.params))
    except Exception as e:      # noqa: BLE001 - reported to the caller as on a real host
        print(failure_message(["XENAPI_PLUGIN_FAILURE", methodname, e.__class__.__name__, str(e)]))

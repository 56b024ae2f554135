"""httpbin (PyPI), the real echo server: served on 127.0.0.1 by werkzeug in a thread, stopped after.

Its echoes are what a leaky upstream looks like: ``/headers`` and ``/anything`` return the
request headers in the JSON body, ``/get`` returns the query decoded (``args``) and the URL
partly re-encoded (``url``), ``/basic-auth/<user>/<passwd>`` checks basic credentials and
returns the user name.
"""

from __future__ import annotations

import logging
import threading
import warnings

from werkzeug.serving import WSGIRequestHandler, make_server


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # one line per request on stderr would drown the test output


class Httpbin:
    def __init__(self) -> None:
        logging.getLogger("httpbin").setLevel(logging.ERROR)  # "flasgger is not installed" at import
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from httpbin import app
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="httpbin", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

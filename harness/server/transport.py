"""The HTTP transport of every client the checks use: no retries, and no connection reused after a server
error.

After an unhandled 500 some servers (uvicorn behind FastAPI, for one) close the connection without
saying `Connection: close`. A pooled client would send the next request on that dead connection and
report "connection reset by peer" for a request that never reached the server: the check after a 500,
or an innocent next test. So a response with a 5xx status retires the whole pool it came from; later
requests open fresh connections. Requests still running on the retired pool finish undisturbed (it is
closed with the client).
"""

from __future__ import annotations

import threading

import httpx


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The request headers that carry an API key (none without one): the one place that writes them."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


class FreshAfterServerError(httpx.BaseTransport):
    def __init__(self) -> None:
        self._pool = httpx.HTTPTransport(retries=0)
        self._retired: list[httpx.HTTPTransport] = []
        self._lock = threading.Lock()  # clients are shared by the threads of concurrency checks

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            pool = self._pool
        response = pool.handle_request(request)
        if response.status_code >= 500:
            with self._lock:
                if self._pool is pool:
                    self._retired.append(pool)
                    self._pool = httpx.HTTPTransport(retries=0)
        return response

    def close(self) -> None:
        with self._lock:
            pools, self._retired = [self._pool, *self._retired], []
        for pool in pools:
            pool.close()

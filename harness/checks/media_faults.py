"""Media URLs that fail on the way, served for real by the harness's media server (harness.checks.image_server):
each fault is what a real host does on a real socket, so a server under test meets it as it would in
production. A server must answer each with a 4xx and a message, and stay healthy.

    refused       the host refuses the connection (a port bound but never listening: RST on connect)
    unresolvable  the host name does not resolve (`.invalid`, reserved by RFC 2606 never to resolve)
    silent        the host accepts the connection and the request, and never answers
    error_500     the host answers 500
    redirect_loop two URLs redirecting to each other, forever
    wrong_type    a 200 with an HTML page (text/html) where media was expected: a captive portal
    trickle       the media's headers, then its bytes one every half second
    oversized     the media's first bytes, then zeros: far more bytes than any sane limit (512 MiB)
"""

from __future__ import annotations

import select
import socket
import threading
import time
from enum import StrEnum
from http.server import BaseHTTPRequestHandler

OVERSIZED_BYTES = 512 * 1024 * 1024
TRICKLE_INTERVAL_S = 0.5
# a faulty answer ends when the client gives up, when the media server stops, or after this long at most
MAX_FAULT_S = 300.0
UNRESOLVABLE_HOST = "media-fault.invalid"
HTML = b"<!doctype html><html><head><title>Sign in</title></head><body><p>Sign in to continue.</p></body></html>"


class Fault(StrEnum):
    REFUSED = "refused"
    UNRESOLVABLE = "unresolvable"
    SILENT = "silent"
    ERROR_500 = "error_500"
    REDIRECT_LOOP = "redirect_loop"
    WRONG_TYPE = "wrong_type"
    TRICKLE = "trickle"
    OVERSIZED = "oversized"


# served by the media server's own handler; the others never reach it
SERVED = (Fault.SILENT, Fault.ERROR_500, Fault.REDIRECT_LOOP, Fault.WRONG_TYPE, Fault.TRICKLE, Fault.OVERSIZED)


def closed_port(bind: str) -> socket.socket:
    """A socket bound on `bind` that never listens: connecting to its port is refused for as long as it
    stays open (and no other process can take the port meanwhile). The caller closes it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((bind, 0))
    return sock


def _peer_gone(handler: BaseHTTPRequestHandler, stop: threading.Event, wait_s: float) -> bool:
    """Waits up to `wait_s`; True when the client closed its end or the server is stopping."""
    if stop.is_set():
        return True
    readable, _, _ = select.select([handler.connection], [], [], wait_s)
    if not readable:
        return stop.is_set()
    try:
        return handler.connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def serve(handler: BaseHTTPRequestHandler, fault: Fault, payload: bytes, mime: str, path: str,
          stop: threading.Event) -> None:
    """Answers one GET for `path` (a fault URL's path) the faulty way."""
    deadline = time.monotonic() + MAX_FAULT_S
    if fault is Fault.SILENT:
        while time.monotonic() < deadline and not _peer_gone(handler, stop, 0.5):
            pass
        handler.close_connection = True
    elif fault is Fault.ERROR_500:
        handler.send_error(500, "media host failure (harness fault)")
    elif fault is Fault.REDIRECT_LOOP:
        other = path[:-1] + ("b" if path.endswith("a") else "a")
        handler.send_response(302)
        handler.send_header("Location", other)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    elif fault is Fault.WRONG_TYPE:
        _head(handler, "text/html; charset=utf-8", len(HTML))
        handler.wfile.write(HTML)
    elif fault is Fault.TRICKLE:
        _head(handler, mime, len(payload))
        for i in range(len(payload)):
            if time.monotonic() > deadline or _peer_gone(handler, stop, TRICKLE_INTERVAL_S):
                break
            if not _write(handler, payload[i:i + 1]):
                break
        handler.close_connection = True
    elif fault is Fault.OVERSIZED:
        _head(handler, mime, OVERSIZED_BYTES)
        first, zeros = payload[:1 << 20].ljust(1 << 20, b"\0"), bytes(1 << 20)
        sent = 0
        while sent < OVERSIZED_BYTES and not stop.is_set() and time.monotonic() < deadline:
            if not _write(handler, zeros if sent else first):
                break
            sent += len(zeros)
        handler.close_connection = True


def _head(handler: BaseHTTPRequestHandler, mime: str, length: int) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", mime)
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


def _write(handler: BaseHTTPRequestHandler, data: bytes) -> bool:
    try:
        handler.wfile.write(data)
        handler.wfile.flush()
        return True
    except OSError:  # the client gave up: that is the point
        return False

"""HTTPS plumbing: a threading HTTP/1.1 server whose connections are TLS-wrapped in the worker thread."""
from __future__ import annotations

import socket
import ssl
import threading
import traceback
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ic.simulator.response import Response

if TYPE_CHECKING:
    from ic.simulator.simulator import Simulator

MAX_BODY = 1_000_000


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], sim: Simulator, context: ssl.SSLContext) -> None:
        self.sim = sim
        self.ssl_context = context
        self._active: set[socket.socket] = set()
        self._active_lock = threading.Lock()
        super().__init__(address, Handler)

    def drop_connections(self) -> None:
        """Cut every open connection (kept-alive ones too): the appliance went away."""
        with self._active_lock:
            active = list(self._active)
        for sock in active:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def finish_request(self, request: socket.socket, client_address) -> None:  # runs in the worker thread
        request.settimeout(30)
        try:  # headers and body go out as separate TLS records: avoid Nagle + delayed-ACK stalls
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.sim._count("tls_handshake_failures")
            return
        with self._active_lock:
            self._active.add(tls)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError, OSError):
            pass
        finally:
            with self._active_lock:
                self._active.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def shutdown_request(self, request: socket.socket) -> None:
        try:
            request.close()
        except OSError:
            pass

    def handle_error(self, request, client_address) -> None:  # quiet: clients hanging up is normal here
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BeyondTrust-Simulator"
    sys_version = ""
    server: TLSServer

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header shows the appliance clock (host clock + clock_offset)."""
        return formatdate(self.server.sim.now_float() if timestamp is None else timestamp, usegmt=True)

    def _serve(self) -> None:
        """Every method (GET, POST, PUT, DELETE, HEAD, PATCH) is answered here: the routes decide what is allowed."""
        sim = self.server.sim
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not raw_length.isdigit():
            self.send_error(400, "Bad Content-Length")
            return
        length = int(raw_length)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        try:
            resp, drop = sim._handle(self.command, url.path, url.query, self.headers, body)
        except Exception:  # noqa: BLE001 - a simulator bug: answer 500 and keep the traceback for the test
            sim._internal_error(traceback.format_exc())
            resp, drop = Response(500, "text/plain; charset=UTF-8", b"simulator internal error"), False
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        for name, value in resp.headers:
            self.send_header(name, value)
        total = resp.content_length
        self.send_header("Content-Length", str(total))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = total // 2 if drop else None
        written = 0
        for chunk in resp.chunks():
            if limit is not None and written + len(chunk) >= limit:
                self.wfile.write(chunk[: limit - written])
                self.wfile.flush()
                self._abort()
                sim._count_bytes(limit)
                return
            self.wfile.write(chunk)
            written += len(chunk)
        sim._count_bytes(written)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

    def _abort(self) -> None:
        """Close the TCP connection without a TLS close_notify, mid-body: the client sees a short read."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve_in_thread(server: TLSServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="ic-simulator",
                              daemon=True)
    thread.start()
    return thread

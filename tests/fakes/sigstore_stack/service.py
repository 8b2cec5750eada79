"""What the stack's HTTP services share: a fixed address once started, and a way to be really down.

`go_down()` closes the listening socket *and* every open connection, so a client gets "connection refused", even one
whose session keeps connections alive (requests does); `come_up()` listens on the same port again. Faults that
answer (503s) are each service's `fail_next`.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator
from typing import Any, Self

from tests.fakes import FakeServer


class Service(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.is_down = False

    @property
    def port(self) -> int:
        """The same while the service is down, so a trust config written once stays right."""
        return self.bind_port or super().port

    def start(self) -> Self:
        super().start()
        self.bind_port = super().port
        self.is_down = False
        return self

    def _serve_in_background(self, server: socketserver.BaseServer) -> Self:
        accept = server.get_request

        def tracked_accept() -> tuple[Any, Any]:
            connection, address = accept()
            with self._connections_lock:
                self._connections.add(connection)
            return connection, address

        server.get_request = tracked_accept  # type: ignore[method-assign]
        return super()._serve_in_background(server)

    def go_down(self) -> None:
        """Refuse connections (and cut the open ones) until `come_up()`."""
        if self.is_down:
            return
        super().stop()
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.is_down = True

    def come_up(self) -> None:
        if self.is_down:
            self.start()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        self.go_down()
        try:
            yield
        finally:
            self.come_up()

    def stop(self) -> None:
        if not self.is_down:
            super().stop()
        self.is_down = False

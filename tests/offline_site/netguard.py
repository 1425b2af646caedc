"""Make accidental network use fail loudly: only loopback and Unix sockets may connect.

Installed in the pytest process by the root ``conftest.py`` and, through
``sitecustomize.py`` in this folder (put on ``PYTHONPATH`` by that conftest), in
every Python child process: notebook kernels under nbval, converters, scripts.
"""

from __future__ import annotations

import ipaddress
import socket

_installed = False


class NetworkBlockedError(ConnectionRefusedError):
    """Raised instead of connecting anywhere but this machine (a subclass of OSError,
    so code that falls back on a failed download falls back here too)."""


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost: would need DNS and the network


def install() -> None:
    """Patch socket.connect / connect_ex to refuse non-loopback addresses."""
    global _installed
    if _installed:
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise NetworkBlockedError(f"network access blocked in tests: connect to {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise NetworkBlockedError(f"network access blocked in tests: connect to {address!r}")
        return real_connect_ex(self, address)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    _installed = True

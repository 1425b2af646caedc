"""Tests (and notebook kernels) cannot reach the network by accident."""

import socket
import subprocess
import sys

import pytest


def test_non_loopback_connections_fail_fast_in_tests():
    from netguard import NetworkBlockedError

    with pytest.raises(NetworkBlockedError):
        socket.create_connection(("192.0.2.1", 80), timeout=5)  # TEST-NET-1: never routable
    with pytest.raises(OSError):  # downloads fall back on OSError, so must this
        socket.create_connection(("192.0.2.1", 443), timeout=5)


def test_loopback_still_works():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=5)
    client.close()
    server.close()


def test_child_python_processes_are_guarded_too():
    code = ("import socket\n"
            "try:\n socket.create_connection(('192.0.2.1', 80), timeout=5)\n"
            "except Exception as e: print(type(e).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "NetworkBlockedError"

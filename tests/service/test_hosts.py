"""The separate hosts the multi-host tests run on (tests/service/hosts.py): each reaches the others
on the private network only, and nothing of them is left once a test is done."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.service.hosts import namespaces_refused, private_network

REPO = Path(__file__).resolve().parents[2]
REFUSED = namespaces_refused()
needs_namespaces = pytest.mark.skipif(
    REFUSED is not None,
    reason=f"network namespaces are not allowed here ({REFUSED}): the multi-host test runs its "
    "hosts as processes on 127.0.0.1 instead",
)
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)"


def connects(argv_prefix: list[str], address: str, port: int) -> bool:
    command = [*argv_prefix, sys.executable, "-c", CONNECT, address, str(port)]
    return subprocess.run(command, capture_output=True, timeout=30).returncode == 0


def our_names() -> str:
    pid = str(os.getpid())
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    listing += subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return "\n".join(line for line in listing.splitlines() if pid in line)


@needs_namespaces
def test_a_host_reaches_the_others_by_address_and_nothing_on_this_machines_loopback() -> None:
    with private_network(["one", "two"]) as network:
        one, two = network.hosts["one"], network.hosts["two"]
        listener = subprocess.Popen(
            two.command([sys.executable, "-m", "http.server", "--bind", two.address, "8080"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # 30 s: a Python start-up, slow only on a machine busy with other tests.
            deadline = time.monotonic() + 30
            while not connects(one.command([]), two.address, 8080):
                assert time.monotonic() < deadline, "host two's server never answered host one"
            assert connects([], two.address, 8080)  # the tests reach it through the bridge
            # PostgreSQL and the shared Redis listen on this machine's 127.0.0.1, as this
            # socket does: a host's loopback is its own, where nothing listens.
            with socket.create_server(("127.0.0.1", 0)) as here:
                port = here.getsockname()[1]
                assert connects([], "127.0.0.1", port)
                assert not connects(one.command([]), "127.0.0.1", port)
        finally:
            listener.kill()
            listener.wait(timeout=10)


@needs_namespaces
def test_nothing_is_left_behind_even_when_the_test_fails() -> None:
    with pytest.raises(RuntimeError), private_network(["one"]) as network:
        assert network.hosts["one"].namespace in our_names()
        raise RuntimeError("a failing test")
    assert our_names() == ""


def test_without_namespaces_the_hosts_are_processes_on_loopback_and_say_why() -> None:
    from tests.service.hosts import loopback_network

    with loopback_network(["api"], "not root") as network:
        assert network.hosts["api"].command(["true"]) == ["true"]
        assert network.hosts["api"].address == "127.0.0.1"
        assert not network.isolated and network.reason == "not root"


@needs_namespaces
def test_each_host_has_a_name_of_its_own_and_the_pid_it_was_given() -> None:
    """Workers name themselves host:pid: two hosts must not share a name, and the pid a test
    holds must be the process's own (to kill it), not that of a wrapper."""
    script = "import os, socket; print(socket.gethostname(), os.getpid())"
    with private_network(["one", "two"]) as network:
        seen = {}
        for host in network.hosts.values():
            process = subprocess.Popen(
                host.command([sys.executable, "-c", script]), stdout=subprocess.PIPE, text=True
            )
            name, pid = process.communicate(timeout=30)[0].split()
            assert int(pid) == process.pid
            seen[host.name] = name
        assert seen == {"one": network.hosts["one"].hostname, "two": network.hosts["two"].hostname}
        assert len(set(seen.values())) == 2

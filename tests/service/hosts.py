"""Separate hosts on one machine, for the tests of what crosses a network.

`private_network()` gives each host a network namespace of its own (`ip netns`), joined to a
bridge in this namespace by a veth pair, with an address on a private /24; the bridge holds the
gateway address (.1), which this process (the tests) uses to reach the hosts. A process started
with `Host.command` sees only its namespace's interfaces: its own loopback, empty, and its
address on the bridge, so it reaches the others by their addresses or not at all.

Where namespaces are not allowed (not root, no iproute2, a sandbox that refuses `setns`),
`loopback_network()` gives hosts that are plain processes on 127.0.0.1, and says why.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

PREFIX = "rnl"  # namespaces rnl-<pid>-<host>, bridge rnlb<pid>, veth ends rv<pid>x<i>
STALE = re.compile(rf"^{PREFIX}b?-?(\d+)")


@dataclass
class Host:
    name: str
    address: str
    namespace: str | None = None  # None: this machine's own namespace (the loopback fallback)

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run on this host, under its own host name (a UTS namespace, as separate
        machines have: a worker's identity is host:pid). `ip netns exec`, `unshare` and `sh`
        each exec the next, so the pid of the launched process is argv's."""
        if self.namespace is None:
            return argv
        named = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname]
        return ["ip", "netns", "exec", self.namespace, *named, *argv]

    @property
    def hostname(self) -> str:
        return self.namespace or socket.gethostname()


@dataclass
class Network:
    gateway: str  # this process's address on the network, where it serves the hosts
    hosts: dict[str, Host] = field(default_factory=dict)
    isolated: bool = True  # False: every host is 127.0.0.1 (the fallback)
    reason: str = ""  # why the fallback was taken


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def namespaces_refused() -> str | None:
    """None where this process may make namespaces and veth pairs, else the reason it may not."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"{PREFIX}-{os.getpid()}-probe"
    try:
        ip("netns", "add", probe)
        ip("-n", probe, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as error:
        return f"`ip netns add` was refused: {error.stderr.strip()}"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("netns", "del", probe)
    return None


def remove_stale() -> None:
    """Namespaces and bridges a killed test run left behind (their pid is gone)."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    candidates = [line.split()[0] for line in names.splitlines() if line.strip()]
    candidates += [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    for name in candidates:
        match = STALE.match(name)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            kind = ("link", "del") if name.startswith(f"{PREFIX}b") else ("netns", "del")
            with contextlib.suppress(subprocess.CalledProcessError):
                ip(*kind, name)


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 10.213.0.0/16 that no interface or route of this machine uses yet."""
    used = subprocess.run(
        ["ip", "-o", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    used += subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    start = os.getpid() % 250
    for offset in range(250):
        subnet = ipaddress.ip_network(f"10.213.{(start + offset) % 250}.0/24")
        if f"10.213.{(start + offset) % 250}." not in used:
            return subnet
    raise RuntimeError("no free /24 in 10.213.0.0/16")


@contextlib.contextmanager
def private_network(names: list[str]) -> Iterator[Network]:
    """One namespace per name on a fresh bridge; all of it removed on exit, whatever happened."""
    remove_stale()
    pid, subnet = os.getpid(), free_subnet()
    addresses = [str(address) for address in subnet.hosts()]
    bridge = f"{PREFIX}b{pid}"
    network = Network(gateway=addresses[0])
    try:
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", f"{network.gateway}/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for index, name in enumerate(names):
            network.hosts[name] = add_host(name, index, addresses[index + 1], bridge)
        yield network
    finally:
        for host in network.hosts.values():
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "del", host.namespace or "")
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("link", "del", bridge)


def add_host(name: str, index: int, address: str, bridge: str) -> Host:
    pid = os.getpid()
    namespace, outside, inside = f"{PREFIX}-{pid}-{name}", f"rv{pid}x{index}", f"rp{pid}x{index}"
    ip("netns", "add", namespace)
    ip("link", "add", outside, "type", "veth", "peer", "name", inside)
    ip("link", "set", inside, "netns", namespace)
    ip("-n", namespace, "link", "set", inside, "name", "eth0")
    ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
    ip("-n", namespace, "link", "set", "eth0", "up")
    ip("-n", namespace, "link", "set", "lo", "up")
    ip("link", "set", outside, "master", bridge, "up")
    return Host(name, address, namespace)


@contextlib.contextmanager
def loopback_network(names: list[str], reason: str) -> Iterator[Network]:
    network = Network(gateway="127.0.0.1", isolated=False, reason=reason)
    network.hosts = {name: Host(name, "127.0.0.1") for name in names}
    yield network


def network_of_hosts(names: list[str]) -> contextlib.AbstractContextManager[Network]:
    """Namespaces where this machine allows them, else processes on loopback (and why)."""
    reason = namespaces_refused()
    if reason is None:
        return private_network(names)
    return loopback_network(names, reason)

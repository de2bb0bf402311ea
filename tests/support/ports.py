"""Free ports on 127.0.0.1 for the daemons the tests start (rsyslogd, ClickHouse, SMTP and
web sinks).

A port is handed out and bound later by another process, so it must not be taken in between.
The kernel gives ports of its ephemeral range to every outgoing connection (SSH, Docker,
Ansible's), so ports are drawn below that range instead, where only a listener that binds
one by number can take it; each is checked free for TCP and UDP alike (rsyslog listens on
both), and none is handed out twice in one test process."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_LOWEST = 10000
_handed_out: set = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 free for TCP and UDP, outside the kernel's ephemeral range."""
    highest = _ephemeral_start() - 1
    if highest - _LOWEST < 1000:  # an unusual range: the kernel's own choice then
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]
    for _attempt in range(1000):
        port = random.randint(_LOWEST, highest)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port on 127.0.0.1 between %d and %d" % (_LOWEST, highest))

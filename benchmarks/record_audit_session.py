"""Real audit logs for the benchmarks: scripted work recorded by the kernel and an auditd of
the benchmark's own, with the linux_audit role's rules and auditd settings (ENRICHED names).

  session - an administrator at work as on a real server: reading system files, adding and
            removing users and a cron entry with sudo, su to another user, systemctl; the
            watched files it writes give more PATH records than EXECVE ones
  exec    - short commands in a loop as cron jobs and scripts run them: EXECVE-heavy

The work runs as a user of its own (made for the run and removed after) with a login uid, as a
person who logged in would.  Needs root in the initial PID namespace, the audit userspace, sudo
and no other auditd running; puts the kernel's rules and enabled flag back afterwards.
Run it under the kernel lock:

    flock /run/whotouched-kernel.lock python benchmarks/record_audit_session.py \
        session OUT.log [--rounds 100]

Other benchmarks get their logs from :func:`recorded_log`, which records one the first time
(taking the lock itself) and finds it in their cache directory after that.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linux_audit_exec_cost import Auditd, load, log_sink, role_configuration, run  # noqa: E402

USER, UID = "wtbench", 4343
KERNEL_LOCK = "/run/whotouched-kernel.lock"
# Where benchmarks keep the logs they had recorded, so that later runs read the same ones.
RECORDINGS = Path(tempfile.gettempdir()) / "whotouched-audit-recordings"
SUDOERS = Path("/etc/sudoers.d/whotouched-bench")
WORK = {
    "session": r"""
i=0
while [ $i -lt $ROUNDS ]; do
  cat /etc/passwd /etc/group >/dev/null; grep -c root /etc/passwd >/dev/null
  ls -l /etc/cron.d /var/log >/dev/null 2>&1; id; hostname; uptime >/dev/null
  sudo -n /usr/sbin/useradd -M -s /usr/sbin/nologin wtb$i
  sudo -n /usr/sbin/usermod -c "temp $i" wtb$i
  sudo -n /usr/sbin/userdel wtb$i
  sudo -n /usr/bin/tee /etc/cron.d/wtbench >/dev/null <<EOF
# $i
17 3 * * * root /bin/true
EOF
  sudo -n /bin/rm -f /etc/cron.d/wtbench
  sudo -n /bin/cat /etc/shadow >/dev/null
  sudo -n /bin/su -s /bin/sh -c 'id; ls /root >/dev/null' root
  systemctl is-active cron >/dev/null 2>&1 || true
  i=$((i+1))
done
""",
    "exec": r"""
i=0
while [ $i -lt $ROUNDS ]; do
  grep -c root /etc/passwd; sort /etc/services | wc -l; sed -n 5p /etc/services
  md5sum /etc/services; ls -l /etc; date +%s; id -un; cut -d: -f1 /etc/passwd | head -3
  i=$((i+1))
done >/dev/null
""",
}
SUDO_COMMANDS = ("/usr/sbin/useradd, /usr/sbin/usermod, /usr/sbin/userdel, /usr/bin/tee "
                 "/etc/cron.d/wtbench, /bin/rm -f /etc/cron.d/wtbench, /bin/cat /etc/shadow, "
                 "/bin/su")


def recorded_log(kind: str, directory: Path, rounds: int = 100) -> Path:
    """The log of ``rounds`` rounds of ``kind`` work in ``directory``: recorded now (as root,
    under the kernel lock) unless an earlier run left it there."""
    path = Path(directory) / ("%s-%d.log" % (kind, rounds))
    if path.is_file() and path.stat().st_size:
        return path
    if os.geteuid() != 0:
        raise SystemExit("no recorded %s log in %s, and recording one needs root: run as root "
                         "or pass a recorded log" % (kind, directory))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    subprocess.run(["flock", KERNEL_LOCK, sys.executable, __file__, kind, str(partial),
                    "--rounds", str(rounds)], check=True)
    partial.rename(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(WORK))
    parser.add_argument("out", type=Path)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("auditd") or not shutil.which("sudo"):
        print("needs root, the audit userspace and sudo", file=sys.stderr)
        return 2
    status = run("auditctl", "-s").stdout
    enabled = status.split("enabled ")[1].split()[0]
    if enabled == "2" or int(status.split("pid ")[1].split()[0]) != 0:
        print("the kernel's rules are immutable or an auditd is running: this records with "
              "its own (stop it, take the kernel lock)", file=sys.stderr)
        return 2
    saved_rules = [line for line in run("auditctl", "-l").stdout.splitlines()
                   if line and line != "No rules"]
    work = Path(tempfile.mkdtemp(prefix="record-session-"))
    os.chmod(work, 0o755)
    sink, port = log_sink(work)
    made_user = run("id", USER, check=False).returncode != 0
    daemon = None
    try:
        configured = role_configuration(work, port)
        if made_user:
            run("useradd", "-u", str(UID), "-M", "-s", "/bin/sh", USER)
        SUDOERS.write_text("Defaults:%s !use_pty\n%s ALL=(root) NOPASSWD: %s\n"
                           % (USER, USER, SUDO_COMMANDS))
        SUDOERS.chmod(0o440)
        daemon = Auditd(work, configured["auditd"], syslog_plugin=False)
        load(configured["rules"])
        script = work / "work.sh"
        script.write_text("ROUNDS=%d\n%s" % (args.rounds, WORK[args.kind]))
        script.chmod(0o644)
        started = time.monotonic()
        outcome = run("sh", "-c", "echo %d > /proc/self/loginuid && cd /tmp && exec setpriv "
                      "--reuid=%d --regid=%d --clear-groups sh %s" % (UID, UID, UID, script),
                      check=False)
        if outcome.returncode != 0:
            raise SystemExit("the work failed: " + outcome.stderr[-2000:])
        run("auditctl", "-D")
        time.sleep(1)  # what auditd still had to write
        daemon.stop()
        logs = sorted(daemon.logs.iterdir(), key=lambda path: path.stat().st_mtime)
        with open(args.out, "wb") as out:
            for path in logs:
                out.write(path.read_bytes())
        print("%s: %d records of %d rounds of %s work in %.1f s"
              % (args.out, sum(1 for _line in open(args.out, "rb")), args.rounds, args.kind,
                 time.monotonic() - started))
    finally:
        if daemon is not None:
            daemon.stop()
        run("auditctl", "-D", check=False)
        for rule in saved_rules:
            run("auditctl", *rule.split(), check=False)
        run("auditctl", "-e", enabled, check=False)
        SUDOERS.unlink(missing_ok=True)
        for entry in run("getent", "passwd", check=False).stdout.splitlines():
            name = entry.split(":")[0]
            if name.startswith("wtb") and name[3:].isdigit():  # left by a failed round
                run("userdel", name, check=False)
        if made_user:
            run("userdel", USER, check=False)
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

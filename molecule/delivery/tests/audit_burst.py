"""Play auditd's part in a burst: a real recorded audit event (usermod run through sudo,
recorded on the project's test machine with log_format ENRICHED), renumbered, as fast as
it can be written.

  audit_burst.py file BASE COUNT LOG ROTATE_BYTES NUM_LOGS [EVENTS_PER_SECOND]
      appends the records to LOG one write per record, as auditd's line-buffered log does, and
      rotates LOG when it passes ROTATE_BYTES the way auditd rotates (LOG.1 ... LOG.N-1);
      at most EVENTS_PER_SECOND events a second when given;
  audit_burst.py stdout BASE COUNT
      writes them to standard output, as auditd hands them to its syslog plugin;
  audit_burst.py count BASE COUNT FILE
      on the log server: what of the burst its stored FILE holds, as JSON (per record type
      the serials found once or more and the copies beyond one; the serials of SYSCALL
      records missing).

Event ``i`` (1 ... COUNT) has serial ``i`` and time BASE + i / 1000 seconds, so that a burst
is told from any other by its time and its events are counted by serial.  Prints the seconds
the writing took.
"""

import json
import os
import re
import sys
import time
from collections import Counter

TEMPLATE = (
    'type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=59 success=yes exit=0 '
    'a0=56258b60f680 a1=56258b60ca30 a2=56258b610240 a3=93caf12fda21253d items=2 ppid=9226 '
    'pid=9229 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 '
    'tty=(none) ses=4294967295 comm="usermod" exe="/usr/sbin/usermod" '
    'key="exec"\x1dARCH=x86_64 SYSCALL=execve AUID="unset" UID="root" GID="root" EUID="root" '
    'SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"',
    'type=BPRM_FCAPS msg=audit({stamp}): fver=0 fp=0 fi=0 fe=0 old_pp=000001fffeffffff '
    'old_pi=0 old_pe=000001fffeffffff old_pa=0 pp=000001fffeffffff pi=0 pe=000001fffeffffff '
    'pa=0 frootid=0',
    'type=EXECVE msg=audit({stamp}): argc=4 a0="usermod" a1="-aG" a2="sudo" a3="wtdup"',
    'type=CWD msg=audit({stamp}): cwd="/tmp/wtcap"',
    'type=PATH msg=audit({stamp}): item=0 name="/usr/sbin/usermod" inode=15884347 dev=fe:00 '
    'mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 '
    'cap_fver=0 cap_frootid=0\x1dOUID="root" OGID="root"',
    'type=PATH msg=audit({stamp}): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=338944 '
    'dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 '
    'cap_fe=0 cap_fver=0 cap_frootid=0\x1dOUID="root" OGID="root"',
    'type=PROCTITLE msg=audit({stamp}): proctitle=757365726D6F64002D6147007375646F007774647570',
)


def records(base, count, per_second=0):
    start = time.monotonic()
    for number in range(1, count + 1):
        if per_second and number % 100 == 0:
            delay = start + number / per_second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stamp = "%d.%03d:%d" % (base + number // 1000, number % 1000, number)
        for line in TEMPLATE:
            yield (line.replace("{stamp}", stamp) + "\n").encode("utf-8")


def rotate(log, num_logs):
    for index in range(num_logs - 2, 0, -1):
        if os.path.exists("%s.%d" % (log, index)):
            os.replace("%s.%d" % (log, index), "%s.%d" % (log, index + 1))
    os.replace(log, log + ".1")


def write_log(base, count, log, rotate_bytes, num_logs, per_second=0):
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    size = os.fstat(descriptor).st_size
    for record in records(base, count, per_second):
        os.write(descriptor, record)
        size += len(record)
        if size >= rotate_bytes:
            os.close(descriptor)
            rotate(log, num_logs)
            descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            size = 0
    os.close(descriptor)


def count_arrivals(base, count, stored):
    stamp = re.compile(rb"type=([A-Z_]+) msg=audit\((\d+)\.\d+:(\d+)\)")
    last = base + count // 1000
    found = {}
    with open(stored, "rb") as lines:
        for line in lines:
            match = stamp.search(line)
            if match and base <= int(match.group(2)) <= last:
                found.setdefault(match.group(1).decode(), Counter())[int(match.group(3))] += 1
    missing = sorted(set(range(1, count + 1)) - set(found.get("SYSCALL", ())))
    return {"types": {name: {"unique": len(serials), "duplicates": sum(serials.values()) - len(serials)}
                      for name, serials in found.items()},
            "missing": len(missing), "first_missing": missing[:10]}


def main(argv):
    mode, base, count = argv[1], int(argv[2]), int(argv[3])
    start = time.monotonic()
    if mode == "count":
        print(json.dumps(count_arrivals(base, count, argv[4]) if os.path.exists(argv[4])
                         else {"types": {}, "missing": count, "first_missing": []}))
        return
    if mode == "file":
        write_log(base, count, argv[4], int(argv[5]), int(argv[6]), int(argv[7]) if len(argv) > 7 else 0)
    else:
        out = sys.stdout.buffer
        for record in records(base, count):
            out.write(record)
        out.flush()
    print("seconds=%.2f" % (time.monotonic() - start), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)

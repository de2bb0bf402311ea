#!/usr/bin/env bash
# The demo: a log server and two Linux hosts as local containers, playbooks/site.yml run
# against them, an admin session and a suspicious one, and the who-did-what report.
#
#   scripts/demo.sh up      (make demo)       bring it up, or run it again while it is up
#   scripts/demo.sh down    (make demo-down)  tear it down and put the kernel back
#
# It is the Molecule scenario molecule/demo (CI runs it with `molecule test -s demo`).
# A kernel has one audit rule table and one audit daemon: the demo holds
# /run/whotouched-kernel.lock from before its rules load until `down`, through a process
# of its own that keeps the lock open.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The collection is the checkout itself, through a link (as scripts/molecule.sh points at it):
# without it a fresh clone's site.yml would not find the roles.
ANSIBLE_COLLECTIONS_PATH=$(python3 -c 'from tests.support.collection_path import collections_base; print(collections_base())')
export ANSIBLE_COLLECTIONS_PATH
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0
LOCK=/run/whotouched-kernel.lock
HOLDER=/run/whotouched-demo.lock-holder
SCENARIO=demo
log="$root/.cache/molecule-logs/demo.log"

say() { printf '\n== %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

# The process keeping the lock: its pid file, and the process is still our sleeper.
holder_pid() {
  local pid
  pid=$(cat "$HOLDER" 2>/dev/null) || return 1
  [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "^sleep infinity" || return 1
  echo "$pid"
}

take_lock() {
  if holder_pid >/dev/null; then
    echo "demo: already up (it holds $LOCK); running it again"
    return
  fi
  exec 9>>"$LOCK"
  if ! flock -n 9; then
    echo "demo: waiting for $LOCK (something that loads audit rules is running)"
    flock 9
  fi
  # The sleeper inherits the locked descriptor: the lock lasts until `down` ends it.
  setsid sleep infinity </dev/null >/dev/null 2>&1 &
  echo $! >"$HOLDER"
  exec 9>&-
}

release_lock() {
  local pid
  if pid=$(holder_pid); then
    kill "$pid"
    echo "demo: released $LOCK"
  fi
  rm -f "$HOLDER"
}

molecule_step() {
  echo "demo: molecule $1 (log: ${log#"$root"/})"
  if ! molecule "$1" -s "$SCENARIO" >>"$log" 2>&1; then
    tail -n 40 "$log"
    die "molecule $1 failed (see $log)${2:+; $2}"
  fi
}

up() {
  [ "$(id -u)" = 0 ] || die "the demo needs root (Docker, and the kernel's audit for demo-web)"
  mkdir -p "$(dirname "$log")"
  : >"$log"
  take_lock
  say "1/4 Three containers and playbooks/site.yml (molecule converge -s demo)"
  molecule_step converge "the containers are up: make demo-down tears them down"
  grep -aE '^(demo-[a-z]+ +: ok=|.*WARNING: the kernel refuses)' "$log" | sed 's/^/   /' || true

  say "2/4 The sessions: alice's admin work, and mallory's (her password leaked)"
  tag=$(date +%H%M%S)
  DEMO_SESSION_TAG=$tag molecule_step side-effect
  # The transcript the session playbook showed, host by host.
  python3 - "$log" <<'PY'
import re, sys, textwrap, yaml
text = open(sys.argv[1], errors="replace").read()
text = text[text.rfind("TASK [Show what was typed]"):]
for host, body in re.findall(r"^ok: \[(demo-[a-z]+)\] =>\s*\n((?:[ \t]+.*\n)+)", text, re.M):
    print("   [%s]" % host)
    print("\n".join("     " + line for line in yaml.safe_load(textwrap.dedent(body))["msg"]))
PY

  say "3/4 Who did what: the audit_report module, ad hoc, on the log server"
  echo "   Each login session, its commands as a tree (sudo's records and the files a command"
  echo "   wrote folded into its line):"
  python3 molecule/demo/report.py --wait-for "update.sh?$tag" "since=1h view=sessions" | sed 's/^/   /'
  echo
  echo "   The same as a list of events, those that deserve attention (all of them: drop min_level):"
  python3 molecule/demo/report.py "since=1h min_level=high" | sed 's/^/   /'
  cat <<'TXT'

   demo-web's events are the kernel's own records: demo-web shares this machine's kernel
   (its container has the host's PID namespace); its auditd hands them to rsyslog, which
   forwards them to demo-logs.  demo-db got the same configuration, but a kernel runs one
   audit daemon and takes audit requests from its initial PID namespace only: nothing of
   demo-db is audited, so the report shows nothing of it.  On real servers (VMs, bare
   metal) every host is audited like demo-web.
TXT

  say "4/4 The wall screen"
  # The processor serves it inside demo-logs; Docker publishes it on this machine's loopback.
  if wall=$(docker port demo-logs 8088/tcp 2>/dev/null | head -n 1) && [ -n "$wall" ]; then
    echo "   http://$wall/  (the alert processor's live page on demo-logs; open it in a browser here)"
    python3 - "$wall" <<'PY' || echo "   (it does not answer yet: the processor starts with rsyslog's first message)"
import json, sys, urllib.request
state = json.load(urllib.request.urlopen("http://%s/api/state" % sys.argv[1], timeout=5))
print("   it shows %d recent events, %d open high-risk items" % (len(state["events"]), len(state["open"])))
PY
  else
    echo "   demo-logs publishes no wall screen port"
  fi

  say "Tear it down with:  make demo-down"
}

down() {
  [ "$(id -u)" = 0 ] || die "the demo needs root"
  mkdir -p "$(dirname "$log")"
  local containers
  containers=$(docker ps -aq --filter name='^demo-(logs|web|db)$')
  # Containers of these names while something else holds the lock are those of a
  # `molecule test -s demo` (CI's) that is running: not this demo's to remove.
  if [ -n "$containers" ] && ! holder_pid >/dev/null && ! flock -n "$LOCK" true; then
    die "$LOCK is held by something else (a test, or \`molecule test -s demo\`): not touching the demo-* containers; run make demo-down again once it is done"
  fi
  if [ -n "$containers" ]; then
    say "Putting the kernel back and removing the containers (molecule cleanup, destroy -s demo)"
    molecule_step cleanup
  else
    say "No demo containers (molecule destroy -s demo, to reset its state)"
  fi
  molecule_step destroy
  if holder_pid >/dev/null && command -v auditctl >/dev/null 2>&1; then
    # The cleanup restored the kernel.  Containers removed by hand skip it: while the
    # demo holds the lock, whatever rules the kernel holds are the demo's.
    if auditctl -l | grep -vq "No rules"; then
      auditctl -D >/dev/null && auditctl -e 0 >/dev/null
      echo "demo: deleted the audit rules left in the kernel, auditing off"
    fi
    echo "demo: the kernel now: $(auditctl -s | grep -E '^(enabled|pid) ' | tr '\n' ' ')rules $(auditctl -l | grep -vc 'No rules' || true)"
  fi
  release_lock
  say "The demo is down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: scripts/demo.sh up|down" ;;
esac

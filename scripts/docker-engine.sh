#!/usr/bin/env bash
# Make sure a Docker engine answers: install it on Debian/Ubuntu when missing, start it
# when stopped, and wait until it answers.  Fails with one clear line otherwise.
set -euo pipefail

wait_seconds=${DOCKER_START_TIMEOUT:-60}
log=/var/log/dockerd.log

die() { echo "docker-engine: $*" >&2; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  [ -r /etc/debian_version ] || die "no Docker engine here and this is not a Debian/Ubuntu host: install Docker yourself, start it, and run again."
  [ "$(id -u)" = 0 ] || die "the Docker engine is missing and installing it needs root (apt-get install docker.io)."
  echo "docker-engine: installing docker.io from the distribution's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null \
    || die "apt-get install docker.io failed: see the messages above."
fi

if ! engine_answers; then
  [ "$(id -u)" = 0 ] || die "the Docker engine is not running and starting it needs root."
  if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; then
    systemctl start docker || die "systemctl start docker failed: see 'journalctl -u docker'."
  else
    echo "docker-engine: starting dockerd (log: $log)"
    nohup dockerd >>"$log" 2>&1 &
  fi
  for _ in $(seq 1 "$wait_seconds"); do
    engine_answers && break
    sleep 1
  done
fi

engine_answers || die "the Docker engine did not answer within $wait_seconds s ($( { docker info 2>&1 || true; } | grep -m1 -iE 'error|cannot' || echo 'no answer')). dockerd's last words: $(tail -n 3 "$log" 2>/dev/null | tr '\n' ' ')"

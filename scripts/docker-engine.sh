#!/usr/bin/env bash
# A Docker engine for the container tests.
#
#   scripts/docker-engine.sh start DIR   print the DOCKER_HOST to use (starting a private engine if needed)
#   scripts/docker-engine.sh stop DIR    stop the private engine started with the same DIR
#
# An engine that already answers (DOCKER_HOST, or the default socket) is used as it is.
# Otherwise, as root, Debian's docker.io is installed if missing and a private dockerd is
# started with its socket, data and pid file under DIR: storage driver vfs, no bridge, no
# iptables, so it needs no kernel features beyond a container runtime and touches no
# network; containers then run with host networking and everything stays on 127.0.0.1.
set -euo pipefail

cmd=${1:?usage: docker-engine.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: docker-engine.sh start|stop DIR}" && cd "$2" && pwd)
sock="unix://$dir/docker.sock"

answers() { DOCKER_HOST=$1 timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

case $cmd in
start)
  if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then echo "$DOCKER_HOST"; exit 0; fi
  if answers unix:///var/run/docker.sock; then echo unix:///var/run/docker.sock; exit 0; fi
  if answers "$sock"; then echo "$sock"; exit 0; fi
  if ! command -v dockerd >/dev/null; then
    if [ "$(id -u)" != 0 ]; then
      echo "docker-engine.sh: no Docker engine answers and dockerd is not installed; install Docker" \
           "(e.g. apt-get install docker.io) or set DOCKER_HOST" >&2
      exit 1
    fi
    echo "docker-engine.sh: installing Debian's docker.io" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >&2
  fi
  mkdir -p "$dir/data" "$dir/exec"
  nohup dockerd --storage-driver=vfs --bridge=none --iptables=false --ip6tables=false \
    --data-root="$dir/data" --exec-root="$dir/exec" --pidfile="$dir/dockerd.pid" \
    -H "$sock" >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 120); do
    if answers "$sock"; then echo "$sock"; exit 0; fi
    sleep 0.5
  done
  echo "docker-engine.sh: dockerd did not answer on $sock within 60 s; see $dir/dockerd.log:" >&2
  tail -n 20 "$dir/dockerd.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/dockerd.pid" ]; then
    pid=$(cat "$dir/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/dockerd.pid"
  fi
  ;;
*)
  echo "usage: docker-engine.sh start|stop DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Bring up a local Docker engine (idempotent).
#
# - exits 0 at once if `docker info` already answers;
# - otherwise installs Debian's docker.io when dockerd is missing, starts
#   `dockerd --bridge=none --iptables=false --ip-masq=false` in the background
#   (log: $REELFLOW_DOCKERD_LOG, default /var/log/dockerd.log) and waits up to
#   $REELFLOW_DOCKERD_WAIT seconds (default 60) for `docker info` to answer;
# - makes sure a Compose implementation exists (`docker compose` or
#   `docker-compose`; installs Debian's docker-compose if neither) and prints
#   which one works.
#
# No registry is reachable on the build machines and every container uses host
# networking (no bridge, no iptables). Needs root for apt-get and dockerd.
set -euo pipefail

LOG="${REELFLOW_DOCKERD_LOG:-/var/log/dockerd.log}"
WAIT="${REELFLOW_DOCKERD_WAIT:-60}"

log() { printf '[docker-engine] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $*"
    fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

engine_up() { docker info >/dev/null 2>&1; }

ensure_engine() {
    if engine_up; then
        log "engine already answers ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        log "dockerd missing: installing Debian's docker.io"
        apt_install docker.io
    fi
    command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after installing docker.io"
    command -v docker >/dev/null 2>&1 || die "docker client missing"

    # A dockerd may already be starting (or hung): do not start a second one.
    if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null 2>&1; then
        log "a dockerd process exists already; waiting for it"
    else
        log "starting dockerd (log: $LOG)"
        as_root mkdir -p "$(dirname "$LOG")"
        # setsid + nohup: the daemon outlives this script and its shell job.
        as_root setsid nohup dockerd --bridge=none --iptables=false --ip-masq=false \
            >>"$LOG" 2>&1 </dev/null &
    fi

    local i
    for ((i = 0; i < WAIT; i++)); do
        if engine_up; then
            log "engine up after ${i}s ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
            return 0
        fi
        sleep 1
    done
    log "last lines of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    die "docker engine did not answer 'docker info' within ${WAIT}s"
}

compose_cmd() {
    if docker compose version >/dev/null 2>&1; then echo "docker compose"
    elif command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
        echo "docker-compose"
    else return 1
    fi
}

ensure_compose() {
    local c
    if ! c="$(compose_cmd)"; then
        log "neither 'docker compose' nor 'docker-compose' works: installing Debian's docker-compose"
        apt_install docker-compose
        c="$(compose_cmd)" || die "no working compose after installing docker-compose"
    fi
    log "compose: $c"
}

ensure_engine
ensure_compose

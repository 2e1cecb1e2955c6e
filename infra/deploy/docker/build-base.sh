#!/usr/bin/env bash
# Build the local Debian bookworm base image (no registry needed).
#
#   infra/deploy/docker/build-base.sh [--force]
#
# debootstrap --variant=minbase from the Debian mirror this host's apt already
# uses, then `docker import`. The image is kept between runs: the build is
# skipped when it exists, unless --force.
#
# Env:
#   REELFLOW_BASE_IMAGE    tag to build (default reelflow-base:bookworm)
#   REELFLOW_DEBIAN_MIRROR mirror URL (default: read from /etc/apt/sources.list*)
#   REELFLOW_DEBOOTSTRAP_CACHE  .deb cache dir (default /var/cache/reelflow-debootstrap)
set -euo pipefail

BASE_IMAGE="${REELFLOW_BASE_IMAGE:-reelflow-base:bookworm}"
SUITE=bookworm
CACHE_DIR="${REELFLOW_DEBOOTSTRAP_CACHE:-/var/cache/reelflow-debootstrap}"
FORCE=0

log() { printf '[build-base] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
docker info >/dev/null 2>&1 || die "no Docker engine answers; run scripts/docker-engine.sh first"

if [ "$FORCE" -eq 0 ] && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    log "$BASE_IMAGE exists (use --force to rebuild)"
    exit 0
fi

# --- Find the Debian mirror apt uses on this host ---------------------------
# Prints "URI<TAB>SUITE" for every enabled deb source, from one-line *.list
# files and deb822 *.sources files.
apt_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }   # skip [options]
                print $i "\t" $(i + 1)
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Stanzas are separated by blank lines.
        awk 'function flush() {
                 if (types ~ /(^| )deb( |$)/ && enabled != "no")
                     for (u = 1; u <= nu; u++) for (s = 1; s <= ns; s++) print uris[u] "\t" suites[s]
                 types = ""; enabled = ""; nu = 0; ns = 0
             }
             /^[ \t]*$/ { flush(); next }
             /^#/ { next }
             tolower($1) == "types:"   { types = ""; for (i = 2; i <= NF; i++) types = types " " $i; types = types " " }
             tolower($1) == "enabled:" { enabled = tolower($2) }
             tolower($1) == "uris:"    { for (i = 2; i <= NF; i++) uris[++nu] = $i }
             tolower($1) == "suites:"  { for (i = 2; i <= NF; i++) suites[++ns] = $i }
             END { flush() }' "$f"
    done
}

MIRROR="${REELFLOW_DEBIAN_MIRROR:-}"
if [ -z "$MIRROR" ]; then
    MIRROR="$(apt_sources | awk -F'\t' -v s="$SUITE" '$2 == s { print $1; exit }')"
fi
[ -n "$MIRROR" ] || die "no apt source for suite '$SUITE' found; set REELFLOW_DEBIAN_MIRROR"
MIRROR="${MIRROR%/}"
SECURITY="$(apt_sources | awk -F'\t' -v s="$SUITE-security" '$2 == s { print $1; exit }')"
SECURITY="${SECURITY%/}"
log "mirror: $MIRROR${SECURITY:+  security: $SECURITY}"

# --- debootstrap ------------------------------------------------------------
if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

START=$(date +%s)
WORK="$(mktemp -d /var/tmp/reelflow-base.XXXXXX)"
ROOTFS="$WORK/rootfs"
cleanup() {
    # Unmount anything debootstrap or chroot left mounted before deleting.
    if command -v findmnt >/dev/null 2>&1; then
        # (grep finds nothing on a clean run: under pipefail that must not fail the trap)
        { findmnt -rn -o TARGET | grep -F "$ROOTFS" | sort -r || true; } | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
    fi
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

mkdir -p "$ROOTFS" "$CACHE_DIR"
log "debootstrap --variant=minbase $SUITE (cache: $CACHE_DIR)"
debootstrap --variant=minbase --cache-dir="$CACHE_DIR" "$SUITE" "$ROOTFS" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || {
    tail -n 40 "$WORK/debootstrap.log" >&2
    die "debootstrap failed"
}

# apt sources inside the image: the same mirror, with updates and security.
{
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -n "$SECURITY" ] && echo "deb $SECURITY $SUITE-security main"
} >"$ROOTFS/etc/apt/sources.list"
rm -f "$ROOTFS"/etc/apt/sources.list.d/*

# Slim-image settings (as Debian's official *-slim images): no docs, man pages,
# translations; apt keeps no .debs and no recommends.
mkdir -p "$ROOTFS/etc/dpkg/dpkg.cfg.d" "$ROOTFS/etc/apt/apt.conf.d"
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
# Let apt in the later `docker build` reach the mirror through the host resolver.
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true

# Bring the base up to date with bookworm-updates/-security, then trim.
log "apt-get upgrade inside the rootfs"
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"   # start no services
chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
chroot "$ROOTFS" /bin/sh -euc '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get -y -qq -o Dpkg::Options::=--force-confold dist-upgrade >/dev/null
    apt-get clean
' >"$WORK/upgrade.log" 2>&1 || { tail -n 40 "$WORK/upgrade.log" >&2; die "apt-get upgrade in the rootfs failed"; }
rm -f "$ROOTFS/usr/sbin/policy-rc.d"

rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/cache/debconf/*-old \
       "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS"/usr/share/doc/*/changelog* \
       "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/root/.bash_history
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
: >"$ROOTFS/etc/resolv.conf"   # docker mounts its own at run time
: >"$ROOTFS/etc/hostname"
rm -f "$ROOTFS/etc/machine-id" && : >"$ROOTFS/etc/machine-id"

log "docker import -> $BASE_IMAGE"
tar --numeric-owner --xattrs -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --change "LABEL org.opencontainers.image.base.name=debian:$SUITE reelflow.debian-mirror=$MIRROR" \
    - "$BASE_IMAGE" >/dev/null

log "built $BASE_IMAGE in $(( $(date +%s) - START ))s ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.1f MB", $1/1e6}'))"

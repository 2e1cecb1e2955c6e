#!/usr/bin/env bash
# Build the reelflow worker image.
#
#   infra/deploy/docker/build-image.sh [--force-base] [extra docker build args...]
#
# 1. infra/deploy/docker/build-base.sh (local Debian base image, cached between runs);
# 2. docker build --network host from the repository root, with the CA bundle
#    handed to pip as a BuildKit secret (never in a layer of the final image).
#
# Env:
#   REELFLOW_IMAGE            tag (default reelflow-worker:latest)
#   REELFLOW_BASE_IMAGE       base tag (default reelflow-base:bookworm)
#   REELFLOW_EXTRA_CA_BUNDLE  CA bundle for pip (default /etc/ssl/certs/ca-certificates.crt;
#                             set it empty to pass none)
#   REELFLOW_BUILDER          auto (default) | buildkit | legacy
#
# Builder choice (auto): a docker client whose `build` speaks BuildKit (buildx
# plugin, or a classic <= 20.10 client such as Debian's /usr/bin/docker with
# DOCKER_BUILDKIT=1). Only when none exists: the legacy builder, with a staged
# context (the legacy builder ignores Dockerfile.dockerignore) where the CA is
# copied into the build stage only.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
IMAGE="${REELFLOW_IMAGE:-reelflow-worker:latest}"
BASE_IMAGE="${REELFLOW_BASE_IMAGE:-reelflow-base:bookworm}"
CA_BUNDLE="${REELFLOW_EXTRA_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"
BUILDER="${REELFLOW_BUILDER:-auto}"

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

BASE_ARGS=()
BUILD_ARGS=()
for arg in "$@"; do
    case "$arg" in
        --force-base) BASE_ARGS+=(--force) ;;
        *) BUILD_ARGS+=("$arg") ;;
    esac
done

START=$(date +%s)

REELFLOW_BASE_IMAGE="$BASE_IMAGE" "$HERE/build-base.sh" "${BASE_ARGS[@]}"

if [ -n "$CA_BUNDLE" ]; then
    [ -s "$CA_BUNDLE" ] || die "CA bundle '$CA_BUNDLE' missing or empty (REELFLOW_EXTRA_CA_BUNDLE)"
    CA_BUNDLE="$(readlink -f "$CA_BUNDLE")"
fi

# A docker client that can run a BuildKit build with --secret.
buildkit_client() {
    local c
    while read -r c; do
        [ -x "$c" ] || continue
        if DOCKER_BUILDKIT=1 "$c" build --help 2>/dev/null | grep -q -- '--secret'; then
            echo "$c"; return 0
        fi
    done < <(type -ap docker | awk '!seen[$0]++')
    return 1
}

DOCKER=""
case "$BUILDER" in
    auto)     DOCKER="$(buildkit_client)" && BUILDER=buildkit || BUILDER=legacy ;;
    buildkit) DOCKER="$(buildkit_client)" || die "no docker client with BuildKit (buildx) found" ;;
    legacy)   ;;
    *)        die "REELFLOW_BUILDER must be auto, buildkit or legacy" ;;
esac

# The Docker tests refuse an image whose label differs from the checkout's digest (stale image).
DIGEST="$(python3 "$ROOT/scripts/source_digest.py" "$ROOT")"
BUILD_ARGS=(--label "reelflow.source-digest=$DIGEST" "${BUILD_ARGS[@]}")
log "source digest: $DIGEST"

# The image this tag names now: once the build moves the tag, it is dangling and removed below.
PREVIOUS="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"

BUILD_START=$(date +%s)
if [ "$BUILDER" = buildkit ]; then
    log "builder: BuildKit via $DOCKER ($("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null))"
    secret=()
    [ -n "$CA_BUNDLE" ] && secret=(--secret "id=extra_ca,src=$CA_BUNDLE")
    DOCKER_BUILDKIT=1 "$DOCKER" build \
        --network host \
        --progress "${REELFLOW_BUILD_PROGRESS:-plain}" \
        --build-arg BASE_IMAGE="$BASE_IMAGE" \
        "${secret[@]}" \
        -f "$HERE/Dockerfile" \
        -t "$IMAGE" \
        "${BUILD_ARGS[@]}" \
        "$ROOT"
else
    # Legacy builder: no --mount, no <Dockerfile>.dockerignore. Stage a minimal
    # context and put the CA into the build stage only (the runtime stage starts
    # from the base image again, so it never contains the CA).
    log "builder: legacy (no BuildKit-capable docker client found)"
    STAGE="$(mktemp -d /var/tmp/reelflow-ctx.XXXXXX)"
    trap 'rm -rf "$STAGE"' EXIT
    (cd "$ROOT" && tar -c \
        --exclude='__pycache__' --exclude='*.py[cod]' --exclude='.pytest_cache' \
        --exclude='.mypy_cache' --exclude='.ruff_cache' --exclude='infra/deploy/docker' \
        --exclude='.env' --exclude='.env.*' \
        pyproject.toml $(ls -d README* prefect.yaml 2>/dev/null) flows tasks infra cli) | tar -x -C "$STAGE"
    if [ -n "$CA_BUNDLE" ]; then cp "$CA_BUNDLE" "$STAGE/.extra_ca"; else : >"$STAGE/.extra_ca"; fi
    sed -e 's#^RUN --mount=type=secret,id=extra_ca \\$#RUN \\#' \
        -e '/^ *--mount=type=cache,/d' \
        -e 's#^FROM \${BASE_IMAGE} AS build$#&\nCOPY .extra_ca /run/secrets/extra_ca#' \
        "$HERE/Dockerfile" >"$STAGE/Dockerfile"
    grep -q -- '--mount' "$STAGE/Dockerfile" && die "could not derive a legacy Dockerfile"
    DOCKER_BUILDKIT=0 docker build \
        --network host \
        --build-arg BASE_IMAGE="$BASE_IMAGE" \
        -f "$STAGE/Dockerfile" \
        -t "$IMAGE" \
        "${BUILD_ARGS[@]}" \
        "$STAGE"
fi

END=$(date +%s)
if [ -n "$PREVIOUS" ] && [ "$PREVIOUS" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ] \
    && [ -z "$(docker image inspect -f '{{join .RepoTags ""}}' "$PREVIOUS" 2>/dev/null)" ]; then
    # Still used by a container (a running job): docker refuses, and the next build retries.
    docker image rm "$PREVIOUS" >/dev/null 2>&1 && log "removed the previous image ${PREVIOUS:7:12}" || true
fi
SIZE="$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
log "built $IMAGE ($SIZE) with $BUILDER: image build $((END - BUILD_START))s, total $((END - START))s"

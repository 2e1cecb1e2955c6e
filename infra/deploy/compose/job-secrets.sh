#!/bin/sh
# One-shot: write the job containers' secrets on this worker host, one file per value.
#
# The Docker deployment (prefect.yaml) mounts this folder read-only into every job container at
# /run/secrets/reelflow and points REELFLOW_*_FILE variables at the files, so no secret travels
# through Prefect's job variables (stored in its database, shown in its UI). Files are 0440,
# owner root, group 10001 (the image's reelflow user). Idempotent: rewrites them at every `up`.
set -eu

DIR="${SECRETS_DIR:-/secrets}"
JOB_GID="${JOB_GID:-10001}"

for name in REELFLOW_STORAGE__S3_ACCESS_KEY REELFLOW_STORAGE__S3_SECRET_KEY REELFLOW_DB_PASSWORD; do
    eval "value=\${$name:-}"
    case "$value" in
        "" | changeme) echo "job-secrets: $name is empty or a placeholder" >&2; exit 1 ;;
    esac
done

umask 077
mkdir -p "$DIR"
write() {  # write NAME VALUE: atomically, so a job never reads half a file
    printf '%s' "$2" > "$DIR/.$1.tmp"
    chgrp "$JOB_GID" "$DIR/.$1.tmp"
    chmod 0440 "$DIR/.$1.tmp"
    mv "$DIR/.$1.tmp" "$DIR/$1"
}
write s3_access_key "$REELFLOW_STORAGE__S3_ACCESS_KEY"
write s3_secret_key "$REELFLOW_STORAGE__S3_SECRET_KEY"
write ledger_url "postgresql+psycopg2://reelflow:${REELFLOW_DB_PASSWORD}@${LEDGER_HOST:-127.0.0.1:5432}/reelflow"
chgrp "$JOB_GID" "$DIR"
chmod 0750 "$DIR"
echo "job-secrets: wrote $(ls "$DIR" | wc -l) files to $DIR"

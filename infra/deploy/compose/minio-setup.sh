#!/bin/sh
# One-shot set-up of MinIO for reelflow (the minio-setup service of infra/deploy/docker-compose.yml).
# Idempotent, runs at every `up`:
#   - the bucket $REELFLOW_BUCKET, private (no anonymous access);
#   - reelflow's own user, with a policy limited to that bucket (objects, listing, multipart
#     clean-up); its secret is reset to REELFLOW_STORAGE__S3_SECRET_KEY at every run.
# Only POSIX sh builtins and mc: the minio/mc image is minimal (no grep, sed or curl).
set -eu

die() { echo "minio-setup: $*" >&2; exit 1; }

refuse_placeholder() { # NAME VALUE
    case "$2" in
        "" | changeme | minioadmin | testing) die "$1 is empty or a placeholder; set a real value in infra/deploy/.env" ;;
    esac
}
refuse_placeholder MINIO_ROOT_USER "${MINIO_ROOT_USER:-}"
refuse_placeholder MINIO_ROOT_PASSWORD "${MINIO_ROOT_PASSWORD:-}"
refuse_placeholder REELFLOW_STORAGE__S3_ACCESS_KEY "${REELFLOW_STORAGE__S3_ACCESS_KEY:-}"
refuse_placeholder REELFLOW_STORAGE__S3_SECRET_KEY "${REELFLOW_STORAGE__S3_SECRET_KEY:-}"
[ "${#REELFLOW_STORAGE__S3_SECRET_KEY}" -ge 8 ] || die "REELFLOW_STORAGE__S3_SECRET_KEY needs at least 8 characters"

BUCKET="${REELFLOW_BUCKET:-reelflow}"
USER_NAME="$REELFLOW_STORAGE__S3_ACCESS_KEY"
POLICY=reelflow-bucket-rw
POLICY_FILE="${TMPDIR:-/tmp}/reelflow-bucket-rw.$$.json"
trap 'rm -f "$POLICY_FILE"' EXIT

mc alias set reelflow "${MINIO_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null

mc mb --ignore-existing "reelflow/$BUCKET"
mc anonymous set none "reelflow/$BUCKET"

# Listing and multipart clean-up on the bucket; object read/write/delete inside it. Nothing else.
printf '%s\n' \
    '{"Version": "2012-10-17", "Statement": [' \
    '  {"Effect": "Allow",' \
    '   "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],' \
    "   \"Resource\": [\"arn:aws:s3:::$BUCKET\"]}," \
    '  {"Effect": "Allow",' \
    '   "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",' \
    '              "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],' \
    "   \"Resource\": [\"arn:aws:s3:::$BUCKET/*\"]}" \
    ']}' >"$POLICY_FILE"
mc admin policy create reelflow "$POLICY" "$POLICY_FILE"
mc admin user add reelflow "$USER_NAME" "$REELFLOW_STORAGE__S3_SECRET_KEY"

# `policy attach` fails when the policy is already attached: attach only when it is not.
info="$(mc admin user info reelflow "$USER_NAME" --json)"
case "$info" in
    *"\"$POLICY\""* | *"$POLICY,"* | *",$POLICY"*) echo "minio-setup: policy $POLICY already attached" ;;
    *) mc admin policy attach reelflow "$POLICY" --user "$USER_NAME" ;;
esac
echo "minio-setup: bucket $BUCKET is private; user $USER_NAME may use it"

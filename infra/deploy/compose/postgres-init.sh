#!/bin/sh
# Run once by the postgres image's entrypoint, on an empty data volume (docker-entrypoint-initdb.d):
# the role and database of reelflow's job ledger, next to Prefect's own database.
# The password comes from REELFLOW_DB_PASSWORD (infra/deploy/.env; postgres-entrypoint.sh has already
# refused placeholders); later changes need ALTER ROLE reelflow PASSWORD '...'.
set -eu

# psql interpolates :'pw' as a quoted literal (no shell or SQL injection through the password).
psql -v ON_ERROR_STOP=1 -v pw="$REELFLOW_DB_PASSWORD" \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE reelflow LOGIN PASSWORD :'pw';
CREATE DATABASE reelflow OWNER reelflow;
REVOKE ALL ON DATABASE reelflow FROM PUBLIC;
SQL

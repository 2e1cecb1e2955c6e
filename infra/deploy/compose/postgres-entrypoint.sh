#!/bin/sh
# Entrypoint of the postgres service: refuse empty or placeholder passwords BEFORE the image's
# own entrypoint initialises the data volume. (Were the init script to fail instead, the volume
# would stay half-initialised and the init scripts would never run again.)
set -eu

for name in POSTGRES_PASSWORD REELFLOW_DB_PASSWORD; do
    eval "value=\${$name:-}"
    case "$value" in
        "" | changeme | postgres | prefect | reelflow | testing)
            echo "postgres: $name is empty or a placeholder; set a real password in infra/deploy/.env" \
                 "(PREFECT_DB_PASSWORD / REELFLOW_DB_PASSWORD, see infra/deploy/compose/env.example)" >&2
            exit 1 ;;
    esac
done
exec docker-entrypoint.sh "$@"

#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL volume (docker-entrypoint-initdb.d):
# the ledger gets its own database beside Dagster's (POSTGRES_DB), owned by the same user.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE wholesaler_ledger OWNER "$POSTGRES_USER";
SQL

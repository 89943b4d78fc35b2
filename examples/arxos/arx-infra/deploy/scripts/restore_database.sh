#!/usr/bin/env bash
# restore_database.sh: the seed's DATABASE_RESTORE_SCRIPT, run by
# `arxdeploy backup restore ID --with-database` (never by a rollback on its own, unless the
# environment's config asks for it: restoring a dump loses the writes made since).
#
# arxdeploy sets ARXDEPLOY_DUMP_FILE, the dump backup_database.sh wrote. The database comes from
# PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD (or PGPASSFILE), as for the backup.
#
# One transaction: a restore that fails half way leaves the database as it was. --clean drops each
# object before it is created again, so rows written after the dump are gone afterwards.
set -euo pipefail
: "${ARXDEPLOY_DUMP_FILE:?arxdeploy sets ARXDEPLOY_DUMP_FILE: run this script from backup restore}"
: "${PGDATABASE:?set PGDATABASE (and PGHOST, PGUSER, PGPASSWORD) to the database to restore}"

pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \
  --exit-on-error --dbname="$PGDATABASE" "$ARXDEPLOY_DUMP_FILE"
echo "restored database $PGDATABASE"

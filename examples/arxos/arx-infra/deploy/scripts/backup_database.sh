#!/usr/bin/env bash
# backup_database.sh: the seed's DATABASE_BACKUP_SCRIPT, run by arxdeploy's backup step before
# anything changes (backup.database.backup_script in deployment_config.yaml).
#
# arxdeploy sets ARXDEPLOY_DUMP_FILE, the file to write; the dump becomes part of the backup
# (digested, encrypted and uploaded with the rest). The database is named the way every libpq
# tool reads it: PGHOST, PGPORT, PGUSER, PGDATABASE and PGPASSWORD (or PGPASSFILE), so the
# password is never on a command line where `ps` would show it.
#
# The custom format (-Fc) is compressed, and pg_restore can restore it object by object.
set -euo pipefail
: "${ARXDEPLOY_DUMP_FILE:?arxdeploy sets ARXDEPLOY_DUMP_FILE: run this script from the backup step}"
: "${PGDATABASE:?set PGDATABASE (and PGHOST, PGUSER, PGPASSWORD) to the database to dump}"

pg_dump --format=custom --no-owner --no-privileges --file="$ARXDEPLOY_DUMP_FILE"
echo "dumped database $PGDATABASE ($(wc -c <"$ARXDEPLOY_DUMP_FILE") bytes)"

#!/usr/bin/env bash
# Backs up a running gantry-controller (docs/operations.md, "Backups"):
# the database with pg_dump (consistent, online: the controller keeps
# serving) and then the data dir's own files: the admin token, the agent
# register key, TLS material, the secure variables' key and the artifact blobs.
#
#   deploy/backup.sh DATA_DIR BACKUP_DIR [DATABASE_URL]
#
# DATABASE_URL: the controller's --database-url; without it, the embedded
# cluster's connection string from DATA_DIR/pg.conninfo. Writes
# BACKUP_DIR/gantry.dump (pg_dump custom format) and BACKUP_DIR/files.tar.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 DATA_DIR BACKUP_DIR [DATABASE_URL]" >&2
  exit 2
fi
data_dir=$1
backup_dir=$2
database=${3:-}
if [ -z "$database" ]; then
  if [ ! -s "$data_dir/pg.conninfo" ]; then
    echo "backup: $data_dir/pg.conninfo is missing: is the controller running on its embedded PostgreSQL? (else pass its --database-url)" >&2
    exit 1
  fi
  database=$(cat "$data_dir/pg.conninfo")
fi

mkdir -p "$backup_dir"
# The dump first: blobs are never modified, so files copied after it hold
# every blob it names (unless retention deleted one in between; its run is
# then stamped as removed in the dump too, or the next backup has it).
pg_dump --format=custom --file="$backup_dir/gantry.dump.partial" --dbname="$database"
mv "$backup_dir/gantry.dump.partial" "$backup_dir/gantry.dump"

files=()
for f in admin.token agent-register.key tls cipher.key artifacts/sha256; do
  [ -e "$data_dir/$f" ] && files+=("$f")
done
tar -C "$data_dir" -cf "$backup_dir/files.tar.partial" "${files[@]}"
mv "$backup_dir/files.tar.partial" "$backup_dir/files.tar"
echo "backup: wrote $backup_dir/gantry.dump and $backup_dir/files.tar"

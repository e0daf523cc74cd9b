#!/usr/bin/env bash
# Restores a backup made by deploy/backup.sh into a fresh controller data
# dir with an embedded PostgreSQL (docs/operations.md, "Backups").
#
#   deploy/restore.sh BACKUP_DIR NEW_DATA_DIR [CONTROLLER_BINARY]
#
# 1. The controller is started once on NEW_DATA_DIR (loopback, any port) so
#    that it creates its cluster exactly as it always does, then stopped.
# 2. The cluster is started alone, the empty database is replaced by the
#    dump, and the cluster is stopped again.
# 3. The token, keys (cipher.key too), TLS material and artifact blobs are
#    unpacked over what the first start made.
# Then start the controller on NEW_DATA_DIR as usual. Run this as the user
# the controller runs as (e.g. `sudo -u gantry`); as root, PostgreSQL's
# commands run as the cluster's owner.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BACKUP_DIR NEW_DATA_DIR [CONTROLLER_BINARY]" >&2
  exit 2
fi
backup_dir=$1
data_dir=$2
controller=${3:-gantry-controller}
for f in gantry.dump files.tar; do
  if [ ! -s "$backup_dir/$f" ]; then echo "restore: $backup_dir/$f is missing" >&2; exit 1; fi
done
if [ -e "$data_dir/pg" ] || [ -e "$data_dir/pg.location" ]; then
  echo "restore: $data_dir already holds a PostgreSQL cluster; restore into a new data dir" >&2
  exit 1
fi

pg_bin=""
if ! command -v pg_ctl >/dev/null 2>&1; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$pg_bin" ] || { echo "restore: pg_ctl not found" >&2; exit 1; }
  pg_bin="$pg_bin/"
fi

# 1. The cluster, made by the controller itself.
mkdir -p "$data_dir"
"$controller" --data-dir "$data_dir" --listen 127.0.0.1:0 >"$data_dir/restore-init.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -s "$data_dir/controller.addr" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "restore: the controller did not start; see $data_dir/restore-init.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -s "$data_dir/controller.addr" ] || { echo "restore: the controller did not start within 60 s" >&2; kill "$pid"; exit 1; }
kill -TERM "$pid"
wait "$pid" || true

cluster_root=$data_dir
[ -s "$data_dir/pg.location" ] && cluster_root=$(cat "$data_dir/pg.location")
pgdata="$cluster_root/pg"
conninfo=$(cat "$data_dir/pg.conninfo")
as_owner=()
if [ "$(id -u)" -eq 0 ]; then as_owner=(runuser -u "$(stat -c %U "$pgdata")" --); fi

# 2. The dump into a fresh, empty database.
"${as_owner[@]}" "${pg_bin}pg_ctl" -D "$pgdata" -l "$cluster_root/pg.log" -w -t 60 start >/dev/null
stop_cluster() { "${as_owner[@]}" "${pg_bin}pg_ctl" -D "$pgdata" -w -t 60 stop >/dev/null; }
trap stop_cluster EXIT
database=$(sed -n 's/.*dbname=\([^ ]*\).*/\1/p' <<<"$conninfo")
admin_conninfo=$(sed 's/dbname=[^ ]*/dbname=postgres/' <<<"$conninfo")
psql --quiet --no-psqlrc --set ON_ERROR_STOP=1 --dbname="$admin_conninfo" \
  --command="DROP DATABASE \"$database\"" --command="CREATE DATABASE \"$database\""
pg_restore --exit-on-error --no-owner --dbname="$conninfo" "$backup_dir/gantry.dump"
# The dump's leader lease names the controller it was taken from: a restored
# database has no leader yet, so the restored controller leads at once.
psql --quiet --no-psqlrc --set ON_ERROR_STOP=1 --dbname="$conninfo" --command="DO \$\$ BEGIN
  IF to_regclass('controller_lease') IS NOT NULL THEN DELETE FROM controller_lease; END IF;
END \$\$"
stop_cluster
trap - EXIT

# 3. The data dir's own files (the admin token and register key replace the
# ones the first start wrote).
tar -C "$data_dir" -xf "$backup_dir/files.tar"
rm -f "$data_dir/restore-init.log"
echo "restore: $data_dir is ready; start gantry-controller --data-dir $data_dir"

#!/usr/bin/env bash
# Backing up and restoring a docflow installation: the procedure docs/OPERATIONS.md describes,
# as a script that tests/it/backup.rs runs on both databases (online, while the server works).
#
#   bash tests/backup_restore.sh backup  DATABASE_URL DATA_DIR OUT_DIR
#   bash tests/backup_restore.sh restore OUT_DIR DATABASE_URL DATA_DIR
#
# DATABASE_URL is docflow's (`sqlite:///path/docflow.db` or `postgres://…`); DATA_DIR the
# folder whose `blobs/` holds the files (a local store; with S3, back the bucket up with the
# provider's versioning/replication instead and skip the blob step). The signing KEK file
# (`signing_kek_path`) and the configuration are NOT in the backup on purpose: keep them apart,
# a stolen backup must not carry the key that opens the stored signing keys.
#
# Order: the database first, then the files. A file is always stored before the row that names
# it is committed and files are never changed, so every row in the database copy names a file
# that is already there when the files are copied next; files newer than the copy are harmless.
set -euo pipefail

die() { echo "backup_restore: $*" >&2; exit 1; }

sqlite_path() { local p=${1#sqlite://}; echo "$p"; }

case "${1:-}" in
  backup)
    [ $# -eq 4 ] || die "usage: backup DATABASE_URL DATA_DIR OUT_DIR"
    url=$2; data=$3; out=$4
    mkdir -p "$out"
    case "$url" in
      postgres://*|postgresql://*)
        # A consistent snapshot of the whole database (one transaction), custom format.
        pg_dump --format=custom --no-owner --file="$out/docflow.pgdump" "$url" ;;
      sqlite://*)
        # SQLite's online backup API: a consistent copy while the server writes (WAL).
        sqlite3 "$(sqlite_path "$url")" ".backup '$out/docflow.db'" ;;
      *) die "unsupported DATABASE_URL: $url" ;;
    esac
    if [ -d "$data/blobs" ]; then
      mkdir -p "$out/blobs"
      # Content-addressed, write-once files: copying what is there is enough (no lock needed).
      cp -a "$data/blobs/." "$out/blobs/"
    fi
    date -u +%Y-%m-%dT%H:%M:%SZ > "$out/BACKUP_TIME"
    echo "backup written to $out"
    ;;
  restore)
    [ $# -eq 4 ] || die "usage: restore OUT_DIR DATABASE_URL DATA_DIR"
    out=$2; url=$3; data=$4
    [ -f "$out/BACKUP_TIME" ] || die "$out is not a docflow backup"
    case "$url" in
      postgres://*|postgresql://*)
        [ -f "$out/docflow.pgdump" ] || die "no PostgreSQL dump in $out"
        # Into an empty database; --exit-on-error so a partial restore is not taken for one.
        pg_restore --no-owner --exit-on-error --dbname="$url" "$out/docflow.pgdump" ;;
      sqlite://*)
        [ -f "$out/docflow.db" ] || die "no SQLite copy in $out"
        target=$(sqlite_path "$url")
        [ ! -e "$target" ] || die "$target exists: restore into a new file"
        mkdir -p "$(dirname "$target")"
        cp "$out/docflow.db" "$target" ;;
      *) die "unsupported DATABASE_URL: $url" ;;
    esac
    if [ -d "$out/blobs" ]; then
      mkdir -p "$data/blobs"
      cp -a "$out/blobs/." "$data/blobs/"
    fi
    echo "restored from $out (taken $(cat "$out/BACKUP_TIME"))"
    ;;
  *) die "usage: $0 backup|restore …" ;;
esac

# Sourced: start Debian's PostgreSQL cluster, make the test role and database, export
# TRANSFERBOT_TEST_PG_URL and PGPORT. PostgreSQL refuses to run as root, so its service runs
# as the postgres user; we connect over 127.0.0.1.
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
  pg_createcluster "$ver" main >/dev/null
fi
read -r cver cname PGPORT _ < <(pg_lsclusters -h | head -n 1)
pg_ctlcluster "$cver" "$cname" start 2>/dev/null || true
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$PGPORT" && break
  sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$PGPORT"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
as_pg "psql -p $PGPORT -tAc \"SELECT 1 FROM pg_roles WHERE rolname='transferbot'\"" | grep -q 1 ||
  as_pg "psql -q -p $PGPORT -c \"CREATE ROLE transferbot LOGIN PASSWORD 'transferbot' CREATEDB\""
as_pg "psql -p $PGPORT -tAc \"SELECT 1 FROM pg_database WHERE datname='transferbot_test'\"" | grep -q 1 ||
  as_pg "createdb -p $PGPORT -O transferbot transferbot_test"
export PGPORT
export TRANSFERBOT_TEST_PG_URL="postgresql+psycopg://transferbot:transferbot@127.0.0.1:${PGPORT}/transferbot_test"

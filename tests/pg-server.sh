#!/bin/sh
# A throwaway PostgreSQL server for the tests: a cluster of its own in
# DIR (initdb), owned by the postgres user (the server refuses root),
# listening on 127.0.0.1:PORT and a socket in DIR, trust authentication
# for loopback only.  Debian 12's postgresql-15 package; no system
# service is used or touched.
#
#   tests/pg-server.sh start DIR PORT   prints postgresql://postgres@127.0.0.1:PORT/
#   tests/pg-server.sh stop DIR
#   tests/pg-server.sh createdb DIR PORT NAME
set -eu
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || {
    echo "pg-server: no PostgreSQL server (apt-get install postgresql-15)" >&2
    exit 77
}
as_pg() { runuser -u postgres -- "$@"; }

cmd=$1 dir=$2
case $cmd in
start)
    port=$3
    mkdir -p "$dir"
    chown postgres: "$dir"
    chmod 700 "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # Test settings: durability stays on (the tests check what is acknowledged
    # survives); small shared memory; enough connections for several collectors.
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
log_line_prefix = '%m [%p] '
CONF
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    echo "postgresql://postgres@127.0.0.1:$port/"
    ;;
stop)
    [ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    ;;
createdb)
    as_pg "$bin/createdb" -h "$dir" -p "$3" -U postgres "$4"
    ;;
again)
    # Started again on the same data, after a stop.
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
        tail -20 "$dir/server.log" >&2
        exit 1
    }
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR | again DIR | createdb DIR PORT NAME" >&2
    exit 2
    ;;
esac

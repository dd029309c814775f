#!/usr/bin/env bash
# Starts a three-node camvault cluster on this machine: three `camvault
# serve` processes sharing one PostgreSQL schema, one NATS server and one
# S3 bucket (a local versitygw with a posix backend), with shared secrets
# made once. It runs until interrupted, then stops the nodes and versitygw
# and drops the schema.
#
#   deploy/cluster.sh [-n NODES] [-d DIR] [-- extra serve flags]
#
# Environment (defaults in brackets):
#   CLUSTER_BIN  the camvault binary [built from this checkout into DIR]
#   POSTGRES_URL  [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
#   NATS_URL      [nats://127.0.0.1:4222]
#   VERSITYGW     the versitygw binary [versitygw on PATH, then ~/go/bin]
#
# When every node answers /readyz it prints one line per node,
#   node <name> <public URL> devices=<wss URL>
# and then "cluster ready".
set -euo pipefail

nodes=3
dir=""
while [ $# -gt 0 ]; do
	case "$1" in
	-n) nodes="$2"; shift 2 ;;
	-d) dir="$2"; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: $0 [-n NODES] [-d DIR] [-- serve flags]" >&2; exit 2 ;;
	esac
done
extra=("$@")

here="$(cd "$(dirname "$0")/.." && pwd)"
[ -n "$dir" ] || dir="$(mktemp -d -t camvault-cluster.XXXXXX)"
mkdir -p "$dir"
pg="${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
nats="${NATS_URL:-nats://127.0.0.1:4222}"
vgw="${VERSITYGW:-$(command -v versitygw || echo "$HOME/go/bin/versitygw")}"
[ -x "$vgw" ] || { echo "cluster: versitygw not found (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)" >&2; exit 1; }
command -v psql >/dev/null || { echo "cluster: psql not found (apt-get install postgresql-client)" >&2; exit 1; }

bin="${CLUSTER_BIN:-}"
if [ -z "$bin" ]; then
	bin="$dir/camvault"
	(cd "$here" && go build -o "$bin" ./cmd/camvault)
fi

# freeport prints a loopback TCP port nobody listens on now. Another
# process may take it before a node binds it; the node then fails to start
# and this script says so.
freeport() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

pids=()
id="$(date +%s)_$$"
schema="camvault_cluster_$id"
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	psql -q "$pg" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Shared parts: a schema, a bucket, a NATS subject, the secrets.
psql -q -v ON_ERROR_STOP=1 "$pg" -c "CREATE SCHEMA $schema" >/dev/null
case "$pg" in *\?*) store="$pg&search_path=$schema" ;; *) store="$pg?search_path=$schema" ;; esac

s3port="$(freeport)"
access="camvault$RANDOM$RANDOM"
secret="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$dir/s3/camvault"
printf '%s' "$secret" >"$dir/s3-secret"
chmod 600 "$dir/s3-secret"
ROOT_ACCESS_KEY="$access" ROOT_SECRET_KEY="$secret" "$vgw" --port "127.0.0.1:$s3port" posix "$dir/s3" >"$dir/versitygw.log" 2>&1 &
pids+=($!)

"$bin" admin cluster-secrets "$dir/secrets" >/dev/null

for i in $(seq 1 "$nodes"); do
	name="node$i"
	http="$(freeport)"
	dev="$(freeport)"
	ing="$(freeport)"
	rtsp="$(freeport)"
	mkdir -p "$dir/$name"
	"$bin" serve --data-dir "$dir/$name" --listen "127.0.0.1:$http" \
		--devices-listen "127.0.0.1:$dev" --devices-ingest-listen "127.0.0.1:$ing" \
		--live-rtsp-listen "127.0.0.1:$rtsp" \
		--store "$store" --bus-nats "$nats" --bus-subject "camvault.$id.withdrawals" \
		--blob-s3-endpoint "127.0.0.1:$s3port" --blob-s3-insecure --blob-s3-bucket camvault \
		--blob-s3-access-key "$access" --blob-s3-secret-key-file "$dir/s3-secret" \
		--cluster-enabled --cluster-node-id "$name" \
		--cluster-server-key-file "$dir/secrets/server.key" \
		--cluster-oauth-key-file "$dir/secrets/oauth.key" \
		--cluster-device-ca-dir "$dir/secrets/devices" \
		${extra[@]+"${extra[@]}"} >"$dir/$name.log" 2>&1 &
	pids+=($!)
	echo "$name $! http://127.0.0.1:$http wss://127.0.0.1:$dev" >>"$dir/nodes"
done

# Wait for every node to answer /readyz (a minute at most).
while read -r name pid url devices; do
	ok=""
	for _ in $(seq 1 600); do
		if curl -fsS "$url/readyz" >/dev/null 2>&1; then ok=1; break; fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$ok" ]; then
		echo "cluster: $name did not become ready; its log:" >&2
		tail -n 20 "$dir/$name.log" >&2
		exit 1
	fi
	echo "node $name $url devices=$devices"
done <"$dir/nodes"
echo "cluster ready (logs in $dir)"
wait -n "${pids[@]}" || true
echo "cluster: a process exited; stopping the others" >&2
exit 1

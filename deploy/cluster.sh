#!/usr/bin/env bash
# Starts a three-node camvault cluster on this machine: three `camvault
# serve` processes sharing one PostgreSQL schema, one NATS server and one
# S3 bucket (a local versitygw with a posix backend), with shared secrets
# made once. It runs until interrupted, then stops the nodes and versitygw
# and drops the schema.
#
#   deploy/cluster.sh [-n NODES] [-r ROLES] [-d DIR] [-- extra serve flags]
#
# -r gives each node its role, comma-separated (all, api or media; e.g.
# api,media,media), and with it the number of nodes; without it every node
# is "all". Each node gets a copy of only the secrets its role needs, in
# DIR/<name>/secrets: media nodes never see the device CA's key or the
# OAuth key. Api nodes hand out the first media node's device and RTSPS
# addresses (where a real cluster names its balancer).
#
# Environment (defaults in brackets):
#   CLUSTER_BIN  the camvault binary [built from this checkout into DIR]
#   POSTGRES_URL  [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
#   NATS_URL      [nats://127.0.0.1:4222]
#   VERSITYGW     the versitygw binary [versitygw on PATH, then ~/go/bin]
#
# When every node answers /readyz it prints one line per node,
#   node <name> <public URL> devices=<wss URL> role=<role>
# and then "cluster ready".
set -euo pipefail

nodes=3
roles=""
dir=""
usage="usage: $0 [-n NODES] [-r ROLES] [-d DIR] [-- serve flags]"
while [ $# -gt 0 ]; do
	case "$1" in
	-n) nodes="$2"; shift 2 ;;
	-r) roles="$2"; shift 2 ;;
	-d) dir="$2"; shift 2 ;;
	--) shift; break ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
extra=("$@")
if [ -n "$roles" ]; then
	IFS=, read -r -a role <<<"$roles"
	nodes=${#role[@]}
else
	role=()
	for _ in $(seq 1 "$nodes"); do role+=(all); done
fi
for r in "${role[@]}"; do
	case "$r" in all | api | media) ;; *) echo "cluster: role $r is not all, api or media; $usage" >&2; exit 2 ;; esac
done

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

# freeport sets port to a loopback TCP port nobody listens on now. Another
# process may take it before a node binds it; the node then fails to start
# and this script says so.
freeport() {
	local p
	while :; do
		# Below the kernel's ephemeral range (32768 and up), so that no
		# process binding port 0 or connecting out takes it meanwhile
		# (camvault's own cluster tests use 20000 to 25999); never one
		# this script chose already.
		p=$((26000 + RANDOM % 6000))
		case " ${chosen[*]-} " in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			chosen+=("$p")
			port=$p
			return
		fi
	done
}
chosen=()

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

freeport
s3port=$port
access="camvault$RANDOM$RANDOM"
secret="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$dir/s3/camvault"
printf '%s' "$secret" >"$dir/s3-secret"
chmod 600 "$dir/s3-secret"
ROOT_ACCESS_KEY="$access" ROOT_SECRET_KEY="$secret" "$vgw" --port "127.0.0.1:$s3port" posix "$dir/s3" >"$dir/versitygw.log" 2>&1 &
pids+=($!)

"$bin" admin cluster-secrets "$dir/secrets" >/dev/null

# Ports first: api nodes name the first media-serving node's.
http=() dev=() ing=() rtsp=()
media=""
for i in $(seq 0 $((nodes - 1))); do
	freeport; http+=("$port")
	freeport; dev+=("$port")
	freeport; ing+=("$port")
	freeport; rtsp+=("$port")
	if [ -z "$media" ] && [ "${role[$i]}" != api ]; then media=$i; fi
done
media="${media:-0}"

for i in $(seq 0 $((nodes - 1))); do
	name="node$((i + 1))"
	r="${role[$i]}"
	sec="$dir/$name/secrets"
	mkdir -p "$sec/devices"
	chmod 700 "$sec"
	cp "$dir/secrets/server.key" "$sec/"
	cp "$dir/secrets/devices/device-ca.pem" "$sec/devices/"
	flags=(--cluster-role "$r" --cluster-server-key-file "$sec/server.key" --cluster-device-ca-dir "$sec/devices")
	if [ "$r" != media ]; then
		cp "$dir/secrets/oauth.key" "$sec/"
		cp "$dir/secrets/devices/device-ca-key.pem" "$sec/devices/"
		flags+=(--cluster-oauth-key-file "$sec/oauth.key")
	fi
	devurl="wss://127.0.0.1:${dev[$i]}"
	if [ "$r" = api ]; then
		devurl="wss://127.0.0.1:${dev[$media]}"
		flags+=(--devices-url "$devurl" --live-rtsp-url "rtsps://127.0.0.1:${rtsp[$media]}")
	else
		if [ "$r" = media ]; then # no CA key: the server certificate made with the secrets
			cp "$dir/secrets/devices/device-server.pem" "$dir/secrets/devices/device-server-key.pem" "$sec/devices/"
		fi
		flags+=(--devices-listen "127.0.0.1:${dev[$i]}" --devices-ingest-listen "127.0.0.1:${ing[$i]}"
			--live-rtsp-listen "127.0.0.1:${rtsp[$i]}")
	fi
	"$bin" serve --data-dir "$dir/$name" --listen "127.0.0.1:${http[$i]}" \
		--store "$store" --bus-nats "$nats" --bus-subject "camvault.$id.withdrawals" \
		--blob-s3-endpoint "127.0.0.1:$s3port" --blob-s3-insecure --blob-s3-bucket camvault \
		--blob-s3-access-key "$access" --blob-s3-secret-key-file "$dir/s3-secret" \
		--cluster-enabled --cluster-node-id "$name" "${flags[@]}" \
		${extra[@]+"${extra[@]}"} >"$dir/$name.log" 2>&1 &
	pids+=($!)
	echo "$name $! http://127.0.0.1:${http[$i]} $devurl $r" >>"$dir/nodes"
done

# Wait for every node to answer /readyz (a minute at most).
while read -r name pid url devices r; do
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
	echo "node $name $url devices=$devices role=$r"
done <"$dir/nodes"
echo "cluster ready (logs in $dir)"
wait -n "${pids[@]}" || true
echo "cluster: a process exited; stopping the others" >&2
exit 1

# bench/lib.sh — what bench/run and bench/abtest share, sourced by both
# (from the repository's root, with WORK, STREAM and CONV set).

# build_bench: the binaries in $WORK, one gRPC request body
# ($WORK/body.grpc), a made-up app secret for hit bridges (the fake accepts
# any JWT), and GET_QUERY, the same request as a Connect GET's query: the
# protobuf message (the gRPC body without its 5-byte frame prefix),
# base64url without padding.
build_bench() {
	go build -o "$WORK/fakeupstream" ./bench/fakeupstream
	go build -o "$WORK/grpcbody" ./bench/grpcbody
	go build -o "$WORK/floor" ./bench/floor
	go build -o "$WORK/smartassist-bridge" ./cmd/smartassist-bridge
	"$WORK/grpcbody" --stream-id "$STREAM" --conversation-id "$CONV" --out "$WORK/body.grpc"
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/client-secret"
	chmod 600 "$WORK/client-secret"
	GET_QUERY="?connect=v1&encoding=proto&base64=1&message=$(tail -c +6 "$WORK/body.grpc" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
	readonly GET_QUERY
}

# start_hit_bridge LOG PORT ADMIN_PORT UPSTREAM_PORT [FLAGS...]: a cache-hit
# bridge in the background ($! is its PID): the cache on (its defaults),
# its own app credentials, so the answer for one identity is cached and
# served to callers that send no credentials
# (--allow-unauthenticated-callers); no quota guard, which would only
# matter on the fills; JSON logs at info, as deployed.
start_hit_bridge() {
	local log=$1 port=$2 admin=$3 upstream=$4
	shift 4
	"$WORK/smartassist-bridge" --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
		--upstream "http://127.0.0.1:$upstream" --account-id bench-account --log-format json \
		--client-id bench-app --client-secret-file "$WORK/client-secret" --allow-unauthenticated-callers \
		--upstream-rate 0 "$@" >"$log" 2>&1 &
}

# ticks PID: the process's CPU time so far (utime + stime), in clock ticks
# (getconf CLK_TCK per second).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

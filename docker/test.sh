#!/usr/bin/env bash
# test.sh - `make docker-test`: builds the image with ../shared/tools/oci (buildah; no Docker
# daemon here) and runs it for real with podman (host network, so ports are 127.0.0.1's):
#   1. image: size (on a base slimmed as Docker Hub's, docker/slim-base.sh), non-root user,
#      HEALTHCHECK passing once the daemon is up;
#   2. both origin-notebook layers over JSON and multipart, exact;
#   3. two replicas behind nginx (docker/nginx.conf, upstreams pointed at the replicas'
#      ports): 200 requests reach both; one replica stopped mid-stream loses no request;
#   4. SIGTERM with requests in flight: exits 0 within 10 s, none lost;
#   5. the KServe runtime's container as KServe runs it: a read-only /mnt/models of plain
#      layer folders, served over the Open Inference Protocol;
#   6. the Kubernetes and KServe manifests validate against their schemas.
# Ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
OCI=${OCI:-../shared/tools/oci}
TAG=convtransposed-test
P1=18180 P2=18181 P3=18182 P4=18183 LB=18190
work=$(mktemp -d)
passed=0 failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
cleanup() {
    for c in ct1 ct2 ct3 ct4; do "$OCI" stop "$TAG-$c" >/dev/null 2>&1; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

run() { # run NAME PORT: a detached container serving on PORT
    "$OCI" stop "$TAG-$1" >/dev/null 2>&1
    "$OCI" run-detached "$TAG-$1" "$TAG" --port "$2" --threads 1 >/dev/null
}
wait_ready() { # wait_ready PORT
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done
    return 1
}

# ---- 1. build and inspect
# oci's locally bootstrapped base is not slimmed as Docker Hub's bookworm-slim is: make it so
OCI="$OCI" docker/slim-base.sh > "$work/base.log" 2>&1 || { cat "$work/base.log"; fail "slim base"; }
start=$(date +%s)
if "$OCI" build . docker/Dockerfile "$TAG" > "$work/build.log" 2>&1; then
    pass "image builds ($(( $(date +%s) - start )) s)"
else
    tail -20 "$work/build.log"; fail "image builds"; echo "$passed passed, $failed failed"; exit 1
fi
info=$("$OCI" inspect "$TAG")
size=$(sed -n 's/.*size=\([0-9]*\).*/\1/p' <<<"$info")
base=$(podman image inspect docker.io/library/debian:bookworm-slim --format '{{.Size}}')
added=$(( (size - base) / 1000000 ))
echo "     image $(( size / 1000000 )) MB = base $(( base / 1000000 )) MB + ${added} MB of ours"
check "image is under 120 MB" test "$size" -lt 120000000
check "image adds < 40 MB to bookworm-slim" test "$added" -lt 40
check "image runs as a non-root user" grep -q 'user=10001:10001' <<<"$info"
check "image has a HEALTHCHECK without curl" grep -q 'healthcheck={\[CMD /usr/local/bin/convtransposed --healthcheck\]' <<<"$info"

run ct1 "$P1"
check "container serves" wait_ready "$P1"
healthy=1
for _ in $(seq 30); do "$OCI" health "$TAG-ct1" >/dev/null 2>&1 && { healthy=0; break; }; sleep 0.5; done
check "HEALTHCHECK passes once the daemon is up" test "$healthy" = 0

# ---- 2. origin notebook layers, exact
seed2d='{"input":{"shape":[1,2,3,3],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]},"weight":{"shape":[2,2,3,3],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},"groups":2}'
want2d='{"shape":[1,4,5,5],"dtype":"float32","data":[0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,0,1,3,3,2,3,8,15,12,7,9,21,36,27,15,9,20,33,24,13,6,13,21,15,8,9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17,9,19,30,21,11,21,44,69,48,25,36,75,117,81,42,27,56,87,60,31,15,31,48,33,17]}'
seed3d='{"input":[[[[[0,1],[2,3]],[[4,5],[6,7]]]]],"weight":[[[[[1,1],[1,1]],[[1,1],[1,1]]],[[[1,1],[1,1]],[[1,1],[1,1]]]]]}'
ch='0,1,1,2,6,4,2,5,3,4,10,6,12,28,16,8,18,10,4,9,5,10,22,12,6,13,7'
want3d="{\"shape\":[1,2,3,3,3],\"dtype\":\"float32\",\"data\":[$ch,$ch]}"
got=$(curl -s -H 'Content-Type: application/json' -d "$seed2d" "http://127.0.0.1:$P1/convtranspose")
check "seed 2-d layer over JSON, exact" test "$got" = "$want2d"
got=$(curl -s -H 'Content-Type: application/json' -d "$seed3d" "http://127.0.0.1:$P1/convtranspose")
check "seed 3-d layer over JSON, exact" test "$got" = "$want3d"
python3 - "$work" <<'PY'
import struct, sys
def npy(path, shape, values):
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    d += " " * ((64 - (10 + len(d) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + struct.pack("<%df" % len(values), *values))
w = sys.argv[1]
npy(w + "/x2.npy", (1, 2, 3, 3), range(18)); npy(w + "/w2.npy", (2, 2, 3, 3), [1] * 36)
npy(w + "/x3.npy", (1, 1, 2, 2, 2), range(8)); npy(w + "/w3.npy", (1, 2, 2, 2, 2), [1] * 16)
PY
got=$(curl -s -F input=@"$work/x2.npy" -F weight=@"$work/w2.npy" -F 'config={"groups":2}' "http://127.0.0.1:$P1/convtranspose")
check "seed 2-d layer over multipart .npy, exact" test "$got" = "$want2d"
got=$(curl -s -F input=@"$work/x3.npy" -F weight=@"$work/w3.npy" "http://127.0.0.1:$P1/convtranspose")
check "seed 3-d layer over multipart .npy, exact" test "$got" = "$want3d"
"$OCI" stop "$TAG-ct1"

# ---- 3. two replicas behind nginx
command -v nginx >/dev/null || scripts/deps.sh nginx >/dev/null
run ct1 "$P1"
run ct2 "$P2"
wait_ready "$P1" && wait_ready "$P2"
sed -e "s|server convtransposed:8080 max_fails=1 fail_timeout=5s;|server 127.0.0.1:$P1 max_fails=1 fail_timeout=5s; server 127.0.0.1:$P2 max_fails=1 fail_timeout=5s;|" \
    -e "s|listen 8080;|listen 127.0.0.1:$LB;|" \
    -e "s|^events|pid $work/nginx.pid; error_log $work/nginx.err; events|" docker/nginx.conf > "$work/nginx.conf"
sed -i "s|^http {|http { client_body_temp_path $work/cb; proxy_temp_path $work/px; fastcgi_temp_path $work/fc; uwsgi_temp_path $work/uw; scgi_temp_path $work/sc;|" "$work/nginx.conf"
nginx -c "$work/nginx.conf" -p "$work" 2>"$work/nginx.start"
sleep 0.5
lb_ok=0
for _ in $(seq 200); do
    [ "$(curl -s -H 'Content-Type: application/json' -d "$seed2d" "http://127.0.0.1:$LB/convtranspose")" = "$want2d" ] && lb_ok=$((lb_ok + 1))
done
check "200 requests through nginx, all exact ($lb_ok)" test "$lb_ok" = 200
n1=$(podman logs "$TAG-ct1" 2>&1 | grep -c 'access POST /convtranspose 200')
n2=$(podman logs "$TAG-ct2" 2>&1 | grep -c 'access POST /convtranspose 200')
check "both replicas served requests ($n1 + $n2)" test "$n1" -gt 0 -a "$n2" -gt 0

: > "$work/codes"
( for _ in $(seq 200); do
      curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' -d "$seed2d" "http://127.0.0.1:$LB/convtranspose" >> "$work/codes"
  done ) &
loop=$!
while [ "$(wc -l < "$work/codes")" -lt 50 ]; do sleep 0.05; done
"$OCI" stop "$TAG-ct2"
wait "$loop"
ok=$(grep -c '^200$' "$work/codes")
check "a replica stopped mid-stream: $ok/200 requests succeeded" test "$ok" = 200
kill "$(cat "$work/nginx.pid")" 2>/dev/null
"$OCI" stop "$TAG-ct1"

# ---- 4. SIGTERM with requests in flight
python3 - "$work" <<'PY'
import struct, sys
def npy(path, shape):  # zeros: a heavy layer (about 8.6 GFLOP) in a small upload
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    d += " " * ((64 - (10 + len(d) + 1) % 64) % 64) + "\n"
    n = 1
    for s in shape:
        n *= s
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + bytes(4 * n))
npy(sys.argv[1] + "/slow_x.npy", (1, 512, 32, 32))
npy(sys.argv[1] + "/slow_w.npy", (512, 512, 4, 4))
PY
run ct3 "$P3"
wait_ready "$P3"
: > "$work/slow_codes"
for _ in 1 2 3 4; do
    curl -s -o /dev/null -w '%{http_code}\n' -F input=@"$work/slow_x.npy" -F weight=@"$work/slow_w.npy" \
        -F 'config={"stride":2,"padding":1}' "http://127.0.0.1:$P3/convtranspose" >> "$work/slow_codes" &
done
sleep 0.3
t0=$(date +%s.%N)
podman kill --signal TERM "$TAG-ct3" >/dev/null
podman wait "$TAG-ct3" > "$work/exit" 2>/dev/null
t1=$(date +%s.%N)
wait
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
check "SIGTERM: exit status 0 ($(cat "$work/exit"))" test "$(cat "$work/exit")" = 0
check "SIGTERM: stopped within 10 s (${secs} s)" awk -v s="$secs" 'BEGIN { exit !(s < 10) }'
inflight=$(grep -c '^200$' "$work/slow_codes")
check "SIGTERM: in-flight requests all answered ($inflight/4)" test "$inflight" = 4
drained=$(podman logs "$TAG-ct3" 2>&1 | sed -n 's/.*stopping: finishing \([0-9]*\) in-flight.*/\1/p')
check "SIGTERM arrived with requests in flight (${drained:-none})" test "${drained:-0}" -gt 0

# ---- 5. the KServe runtime's container, run as KServe runs it: its args from
# docker/kserve/servingruntime.yaml, a storageUri's plain layer folders at /mnt/models on a
# read-only volume, a read-only root, its uid
mkdir -p "$work/models/seed"
cp "$work/w2.npy" "$work/models/seed/weight.npy"
echo '{"groups": 2}' > "$work/models/seed/config.json"
chmod -R a+rX "$work/models"
mapfile -t kargs < <(sed -n 's/^        - \(--[a-z-]*=.*\)$/\1/p' docker/kserve/servingruntime.yaml)
"$OCI" stop "$TAG-ct4" >/dev/null 2>&1
podman run --runtime /usr/sbin/runc --network=host --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 -d --name "$TAG-ct4" \
    --read-only --user 10001:10001 -v "$work/models:/mnt/models:ro" "localhost/$TAG" "${kargs[@]}" "--port=$P4" \
    >/dev/null 2> >(grep -v systemd >&2)
ready=1
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P4/v2/health/ready" >/dev/null && { ready=0; break; }; sleep 0.1; done
check "KServe runtime (${kargs[*]}): ready on /v2/health/ready with /mnt/models read-only" test "$ready" = 0
oip='{"inputs":[{"name":"input","shape":[1,2,3,3],"datatype":"FP32","data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}]}'
got=$(curl -s -H 'Content-Type: application/json' -d "$oip" "http://127.0.0.1:$P4/v2/models/seed/infer")
want_data=$(sed 's/.*"data":\(\[[^]]*\]\).*/\1/' <<<"$want2d")
check "KServe runtime: /v2/models/seed/infer from the provided folder, exact" grep -qF "\"data\":$want_data" <<<"$got"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$P4/v1/layers/seed")
check "KServe runtime: the provided layer is the owner's (DELETE: $code)" test "$code" = 409
"$OCI" stop "$TAG-ct4"

# ---- 6. Kubernetes and KServe manifests against their schemas
if [ ! -d build/k8s-validate/node_modules/kubernetes-models ] || [ ! -d build/k8s-validate/node_modules/ajv ]; then
    mkdir -p build/k8s-validate
    npm install --silent --no-audit --no-fund --prefix build/k8s-validate kubernetes-models yaml ajv >/dev/null 2>&1
fi
for dir in k8s kserve; do
    ln -sfn "$PWD/build/k8s-validate/node_modules" docker/$dir/node_modules
done
out=$(node docker/k8s/validate.mjs 2>&1)
kserve=$(node docker/kserve/validate.mjs 2>&1)
rm -f docker/k8s/node_modules docker/kserve/node_modules
echo "$out" | sed 's/^/     /'
check "Kubernetes manifests validate (kubernetes-models)" grep -q ' 0 invalid' <<<"$out"
echo "$kserve" | sed 's/^/     /'
check "KServe ServingRuntime and InferenceService validate (KServe's fields, Kubernetes' schemas)" grep -q ' 0 failed' <<<"$kserve"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# Cluster mode over TLS: one etcd member serving https with client
# certificate authentication (--client-cert-auth), certificates made here by
# openssl, and gtmd nodes that
#   - have the right CA and a client certificate: in sync, a drain reaches etcd
#   - trust another CA: refused with "certificate verify failed", keep serving
#   - present no client certificate: refused by etcd, keep serving
# Needs etcd, etcdctl, openssl, kdig; without etcd it exits 77 (skipped).
ME=cluster/tls.sh
# shellcheck source=tests/cluster/lib.sh
. "$(dirname "$0")/lib.sh"
cluster_init etcd etcdctl openssl kdig
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "${KEEP_WORK:-}" ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

read -r ECLI EPEER D1 D2 D3 <<<"$(free_ports 5)"

# ------------------------------------------------------------ certificates
cd "$WORK" || exit 1
mkcert() {   # mkcert NAME CA SUBJECT EXT
	openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -subj "$3" -out "$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
		-extfile <(printf '%s\n' "$4") -out "$1.crt" 2>/dev/null
}
for ca in ca other-ca; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -subj "/CN=gtm test $ca" -days 2 -out $ca.crt 2>/dev/null ||
		{ echo "$ME: openssl failed" >&2; exit 1; }
done
mkcert server ca "/CN=etcd" "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth" || { echo "$ME: openssl failed" >&2; exit 1; }
mkcert client ca "/CN=gtm" "extendedKeyUsage=clientAuth" || { echo "$ME: openssl failed" >&2; exit 1; }

etcd --name tls0 --data-dir "$WORK/etcd" \
	--listen-client-urls "https://127.0.0.1:$ECLI,https://[::1]:$ECLI" --advertise-client-urls "https://127.0.0.1:$ECLI" \
	--listen-peer-urls "http://127.0.0.1:$EPEER" --initial-advertise-peer-urls "http://127.0.0.1:$EPEER" \
	--initial-cluster "tls0=http://127.0.0.1:$EPEER" \
	--cert-file server.crt --key-file server.key --client-cert-auth --trusted-ca-file ca.crt \
	>"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
ectl() { ETCDCTL_API=3 etcdctl --endpoints="https://127.0.0.1:$ECLI" --cacert ca.crt --cert client.crt --key client.key "$@"; }
for i in $(seq 1 100); do ectl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
ectl endpoint health >/dev/null 2>&1 || { echo "$ME: etcd over TLS did not start" >&2; tail "$WORK/etcd.log"; exit 1; }

cp "$TOP/tests/integration/data/example.com.zone" .
node() {   # node N PORT TLS-KEYS [HOST]
	cat >"n$1.conf" <<EOF
server = { listen = [ "127.0.0.1:$2" ]; workers = 1; };
zones = ( { name = "example.com"; file = "example.com.zone"; } );
cities = ( { name = "beijing"; lat = 39.9; lon = 116.4; } );
sites = ( { name = "bj-a"; city = "beijing"; }, { name = "bj-b"; city = "beijing"; } );
control = { socket = "$WORK/n$1.sock"; state_file = "n$1.state"; };
cluster = { node = "n$1"; etcd = [ "https://${4:-127.0.0.1}:$ECLI" ]; lease = 2; timeout = 1; $3 };
services = ( { name = "www.example.com"; policy = "nearest"; answer = "all"; ttl = 5;
               endpoints = ( { site = "bj-a"; addresses = [ "192.0.2.10" ]; },
                             { site = "bj-b"; addresses = [ "192.0.2.20" ]; } ); } );
EOF
	"$GTMD" -t -c "n$1.conf" >"n$1.t" 2>&1 || { cat "n$1.t"; fail "gtmd -t refused n$1.conf"; }
	"$GTMD" -c "n$1.conf" >"n$1.log" 2>&1 &
	PIDS+=($!)
}
etcd_state() { "$GTMCTL" -s "$WORK/n$1.sock" --json status 2>/dev/null | "$PY" -c 'import json,sys; c=json.load(sys.stdin)["cluster"]; print(c["etcd"], c.get("error",""))'; }
wait_state() {   # wait_state N WORD
	for i in $(seq 1 100); do
		case "$(etcd_state "$1")" in "$2"*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}

# n1 names etcd by host name: resolved by evdns, checked in the certificate.
node 1 "$D1" 'ca_file = "ca.crt"; cert_file = "client.crt"; key_file = "client.key"; history_keep = 10;' localhost
node 2 "$D2" 'ca_file = "other-ca.crt"; cert_file = "client.crt"; key_file = "client.key";'
node 3 "$D3" 'ca_file = "ca.crt";'

wait_state 1 connected && ok "n1 (https://localhost, right CA, client certificate) in sync over TLS" || fail "n1: $(etcd_state 1)"
"$GTMCTL" -s "$WORK/n1.sock" drain bj-a --reason tls >/dev/null && ok "drain on n1 confirmed" || fail "drain on n1 failed"
ectl get /gtm/admin --print-value-only | grep -q '"drained"' && ok "etcd has the drain" || fail "no drain in etcd"
# No history file here: gtmctl history shows what the node saw in etcd.
for i in $(seq 1 20); do "$GTMCTL" -s "$WORK/n1.sock" history | grep -q "root@n1 *drain" && break; sleep 0.1; done
"$GTMCTL" -s "$WORK/n1.sock" history | grep -q "root@n1 *drain" && ok "gtmctl history without a history file" ||
	fail "gtmctl history on n1: $("$GTMCTL" -s "$WORK/n1.sock" history)"
a=$(kdig @127.0.0.1 -p "$D1" +short www.example.com A 2>&1)
[ "$a" = "192.0.2.20" ] && ok "n1 answers without bj-a" || fail "n1 answers '$a'"

# history_keep = 10: after a dozen changes etcd holds the newest 10 records.
for i in $(seq 1 6); do
	"$GTMCTL" -s "$WORK/n1.sock" undrain bj-a >/dev/null && "$GTMCTL" -s "$WORK/n1.sock" drain bj-a >/dev/null ||
		fail "drain/undrain round $i failed"
done
for i in $(seq 1 50); do   # the last prune runs after the last reply
	nh=$(ectl get /gtm/history/ --prefix --keys-only | grep -c history)
	[ "$nh" -le 10 ] && break
	sleep 0.1
done
[ "$nh" -eq 10 ] && ok "etcd keeps the newest 10 history records" || fail "etcd holds $nh history records (history_keep 10)"
ectl get /gtm/history/ --prefix --print-value-only | tail -n 1 | grep -q '"new":"drained"' &&
	ok "the newest record is the last drain" || fail "the newest history record is not the last drain"

wait_state 2 unreachable && ok "n2 (another CA) refused" || fail "n2: $(etcd_state 2)"
etcd_state 2 | grep -q "certificate verify failed" && ok "n2 says why: $(etcd_state 2)" ||
	fail "n2's error does not say 'certificate verify failed': $(etcd_state 2)"
wait_state 3 unreachable && ok "n3 (no client certificate) refused: $(etcd_state 3)" || fail "n3: $(etcd_state 3)"
for n in 2 3; do
	port=$([ $n = 2 ] && echo "$D2" || echo "$D3")
	a=$(kdig @127.0.0.1 -p "$port" +short www.example.com A 2>&1 | sort | tr '\n' ' ')
	[ "$a" = "192.0.2.10 192.0.2.20 " ] && ok "n$n keeps answering (its own state)" || fail "n$n answers '$a'"
	"$GTMCTL" -s "$WORK/n$n.sock" drain bj-b >"n$n.drain" 2>&1 && fail "n$n accepted a drain without etcd" ||
		{ grep -q "etcd is unreachable" "n$n.drain" && ok "n$n refuses admin changes" || fail "n$n: $(cat "n$n.drain")"; }
done
for n in 1 2 3; do
	kill -TERM "${PIDS[$n]}" 2>/dev/null   # a clean stop: leak reports land in the log
	wait "${PIDS[$n]}" 2>/dev/null
	sanitizer_check "n$n.log" "n$n"
done
echo "$ME: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

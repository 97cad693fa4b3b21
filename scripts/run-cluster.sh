#!/usr/bin/env bash
# Runs Place an Order on a 3-node nats-server cluster on this machine: three clustered nats-servers
# with JetStream (nats-cluster.conf, streams and KV at R3), K processes of the orchestrator (sharing
# CHECKOUT_SLOTS slots, default 4, under leases) and of the gateway, and two processes of the
# participants (cart, inventory, payment, order, promotion). Cart, promotion, payment and order run
# in PARTITIONS partitions (default 2) shared by the two processes, so both work; inventory's one
# slot is served by one, the other standing by on its own disk, taking over if the first is lost.
# Ctrl-C stops everything.
#   bash scripts/run-cluster.sh            # K=2, data under ./data/cluster, gateways on 3000, 3001
#   K=3 bash scripts/run-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
K="${K:-2}"
DATA="${DATA_DIR:-./data/cluster}"
CLIENT_BASE="${NATS_PORT:-4222}"
ROUTE_BASE="${NATS_ROUTE_PORT:-6222}"
HTTP_BASE="${PORT:-3000}"
NATS_BIN="$(command -v nats-server || echo /usr/sbin/nats-server)"

pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

urls=()
for i in 0 1 2; do urls+=("nats://127.0.0.1:$((CLIENT_BASE + i))"); done
for i in 0 1 2; do
  routes=()
  for j in 0 1 2; do [ "$j" = "$i" ] || routes+=("nats://route:route-dev-secret@127.0.0.1:$((ROUTE_BASE + j))"); done
  mkdir -p "$DATA/nats-n$((i + 1))"
  "$NATS_BIN" -c nats-cluster.conf -n "n$((i + 1))" -a 127.0.0.1 -p "$((CLIENT_BASE + i))" \
    -cluster "nats://127.0.0.1:$((ROUTE_BASE + i))" -routes "$(IFS=,; echo "${routes[*]}")" \
    -js -sd "$DATA/nats-n$((i + 1))" &
  pids+=($!)
done
sleep 2
export NATS_URL="$(IFS=,; echo "${urls[*]}")" NATS_REPLICAS=3 CHECKOUT_SLOTS="${CHECKOUT_SLOTS:-4}" PARTITIONS="${PARTITIONS:-2}"

run() { # data dir, SERVICES, [PORT]
  DATA_DIR="$1" SERVICES="$2" PORT="${3:-$HTTP_BASE}" node --max-semi-space-size=64 --import tsx src/main.ts &  # src/heap.ts: the young generation
  pids+=($!)
}
for p in a b; do run "$DATA/participants-$p" order,inventory,payment,promotion,cart; done
for k in $(seq 1 "$K"); do
  run "$DATA/checkout-$k" checkout
  run "$DATA/gateway-$k" gateway "$((HTTP_BASE + k - 1))"
done
wait

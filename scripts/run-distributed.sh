#!/usr/bin/env bash
# Runs Place an Order distributed on this machine: a nats-server with nats.conf, each service in its
# own process, two checkout orchestrators side by side, and the gateway. Ctrl-C stops everything.
#   bash scripts/run-distributed.sh            # data under ./data/distributed
set -euo pipefail
cd "$(dirname "$0")/.."
NATS_PORT="${NATS_PORT:-4333}"
DATA="${DATA_DIR:-./data/distributed}"
mkdir -p "$DATA/nats"
NATS_BIN="$(command -v nats-server || echo /usr/sbin/nats-server)"

pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$NATS_BIN" -c nats.conf -js -sd "$DATA/nats" -p "$NATS_PORT" &
pids+=($!)
sleep 0.5
export NATS_URL="nats://127.0.0.1:$NATS_PORT"

run() { # name, data dir, SERVICES
  DATA_DIR="$1" SERVICES="$2" node --max-semi-space-size=64 --import tsx src/main.ts &  # src/heap.ts: the young generation
  pids+=($!)
}
for s in order inventory payment promotion cart; do run "$DATA/$s" "$s"; done
run "$DATA/checkout-a" checkout
run "$DATA/checkout-b" checkout
run "$DATA/gateway" gateway
wait

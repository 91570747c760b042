#!/usr/bin/env bash
# Client container: join the Ray cluster as a node without resources (a Ray driver needs a local raylet), then run
# `augmix-lab run` with the given arguments against the cluster and the shared MLflow server.
set -euo pipefail
: "${RAY_HEAD:=ray-head:6379}"
ray start --address="${RAY_HEAD}" --num-cpus=0 --num-gpus=0 --disable-usage-stats >/dev/null
trap 'ray stop --force >/dev/null 2>&1 || true' EXIT
augmix-lab run --address "${RAY_HEAD}" "$@"

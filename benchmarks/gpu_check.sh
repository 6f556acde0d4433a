#!/usr/bin/env bash
# The GPU tier's check, one prepared script: < 8 minutes on one H100/H200-class GPU (not yet run on
# one: adjust the budgets below after the first run). From the repository root:
#
#     bash benchmarks/gpu_check.sh                  # MULTI30K=DIR if not ../shared/data/multi30k
#
# 1. gpu_mfu: tokens/s and MFU at transformer_base and transformer_big shapes, ours and HF Marian,
#    bf16 + SDPA + torch.compile + fused Adam       -> benchmarks/results/gpu_mfu.json
# 2. a short `runner run multi30k_deen_gpu` through Ray on the GPU (2-minute budget), with its
#    BLEU, steps, tokens/s and peak GPU memory     -> benchmarks/results/gpu_multi30k_run.json
# 3. `runner decode` of Multi30K test_2016 with that run on the GPU -> benchmarks/results/gpu_decode.json
# Without a CUDA GPU it stops at once with status 1 and writes nothing: no CPU figure may pass for a GPU one.
set -euo pipefail
cd "$(dirname "$0")/.."
MULTI30K="${MULTI30K:-../shared/data/multi30k}"
BUDGET_MINUTES="${BUDGET_MINUTES:-2}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python -m benchmarks.gpu_check require-gpu
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if [ ! -f "$MULTI30K/test_2016_flickr.de.gz" ]; then
    echo "gpu_check: no Multi30K at $MULTI30K (test_2016_flickr.de.gz missing); set MULTI30K=DIR" >&2
    exit 1
fi
MULTI30K="$(cd "$MULTI30K" && pwd)"

echo "== 1/3 gpu_mfu (base and big; ours and HF Marian)"
timeout 300 python -m benchmarks.run gpu_mfu

echo "== 2/3 runner run multi30k_deen_gpu through Ray, ${BUDGET_MINUTES}-minute budget"
export RUNNER_DATA_DIR="$WORK/data" MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db"
started=$(date +%s)
timeout 420 runner run catalog/recipes/multi30k_deen_gpu.yaml -o "problem.source.path=$MULTI30K" \
    -o "train.time_budget_minutes=$BUDGET_MINUTES" -o train.eval_every=500 --output-dir "$WORK/m30k"
python -m benchmarks.gpu_check record-run "$WORK/m30k" "$(( $(date +%s) - started ))"

echo "== 3/3 runner decode on the GPU (test_2016, beam 4)"
gzip -dc "$MULTI30K/test_2016_flickr.de.gz" > "$WORK/test.de"
gzip -dc "$MULTI30K/test_2016_flickr.en.gz" > "$WORK/test.en"
timeout 180 python -m benchmarks.gpu_check decode "$WORK/m30k" "$WORK/test.de" "$WORK/test.en"

echo "== done: benchmarks/results/gpu_mfu.json gpu_multi30k_run.json gpu_decode.json"

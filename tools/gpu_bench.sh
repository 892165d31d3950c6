#!/usr/bin/env bash
# The GPU check of issue 17 on a lent machine (the `device` tool): SD-1.5 shapes, plain fp16 vs
# fast_preset (compiled), and LCMScheduler at 4 steps vs 50 steps with CFG, as whole images.
# Needs diffusers carried as wheels in .whl/ (the GPU image has torch but no diffusers and no
# network). Every finished stage is saved to results/partial_bench_cuda.json and echoed, so a
# run cut short by its time limit still reports what it measured. Usage (device machine):
#   bash tools/gpu_bench.sh "$OUT"
set -uo pipefail
out=${1:-/tmp/gpu_bench}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, \
'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
timeout "${BENCH_LIMIT:-500}" python3 -m recipes bench --device cuda --steps 50 --repeats 5 ${BENCH_ARGS:-} \
  --lcm-steps 4 2>&1 | grep --line-buffered -v "it/s\]\|triton_\|AUTOTUNE\|strides:\|dtypes:" | tee "$out/bench.log"
rc=$?
cp results/*bench_cuda*.json "$out/" 2>/dev/null
echo "gpu_bench rc=$rc"

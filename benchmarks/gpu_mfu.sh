#!/usr/bin/env bash
# Issue 5's GPU measurements in one call of the device tool (one warm machine, ~10 minutes):
# T5-Base bf16, batch 128 x 512/114, MFU against the H100's 989 TFLOP/s dense bf16 peak (spec M89/M90),
# for each attention implementation (model.attention_impl), then a per-XLA-op profile of the faster one.
#
#   run(command="bash benchmarks/gpu_mfu.sh", carry=[".whl"])      # device tool; results come back in $OUT
#   bash benchmarks/gpu_mfu.sh /tmp/gpu                               # any CUDA machine with this repo
#
# Writes cudnn_check.log (tests/models/test_t5_layers.py's cuDNN-vs-einsum check, run only on a GPU),
# base_{einsum,cudnn}.json and .log (a failing run's whole traceback: cuDNN may refuse a bias or
# bias-gradient shape), profile_<attention>.txt, base_hf.json (HF PyTorch alone at the same shape, for the
# issue's >= 1.5x ratio against base_einsum.json) and base_b32_vs_hf.json: eight files, the tool's limit.
#
# Packages the GPU image lacks travel as wheels in .whl/ (ignored by git; the device README says how to fetch
# them: hydra-core, omegaconf, antlr4 4.9.3, pytest, pluggy, iniconfig): they are installed only when an
# import fails, so the image's own jax/CUDA build is kept.
set -u
out=${1:-${OUT:-/tmp/t5repro_gpu}}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
if ! "$py" -c "import flax, optax, orbax.checkpoint, hydra, omegaconf, pytest" 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site
    fi
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
"$py" -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())" \
    || exit 1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null

echo "== cuDNN attention against the einsum reference (outputs and gradients, position bias included)"
timeout 180 "$py" -m pytest -q -p no:cacheprovider tests/models/test_t5_layers.py -k "on_gpu or fused or probability_mask" \
    2>&1 | tee "$out/cudnn_check.log" | tail -n 15

base=(--model base --batch 128 --inputs 512 --targets 114 --dtype bfloat16 --peak-tflops 989 --side ours)
for attention in einsum cudnn; do
    echo "== attention $attention"
    timeout 240 "$py" benchmarks/train_step.py "${base[@]}" --attention "$attention" --warmup 3 --steps 10 \
        --json "$out/base_$attention.json" 2>&1 | tee "$out/base_$attention.log" | grep -v "^WARNING" | tail -n 30
done
# Profile the faster implementation: where its time goes is what the next change has to work on.
fastest=$("$py" - "$out" <<'PY'
import json, sys
best = {}
for attention in ("einsum", "cudnn"):
    try:
        ours = json.load(open(f"{sys.argv[1]}/base_{attention}.json")).get("ours (JAX/Flax)")
    except (OSError, ValueError):
        continue
    if isinstance(ours, dict):
        best[attention] = ours["median_s"]
print(min(best, key=best.get) if best else "einsum")
PY
)
echo "== profile ($fastest)"
timeout 240 "$py" benchmarks/train_step.py "${base[@]}" --attention "$fastest" --warmup 2 --steps 2 \
    --profile /tmp/t5repro_trace > "$out/profile_$fastest.txt" 2>&1
tail -n 60 "$out/profile_$fastest.txt"
echo "== HF PyTorch at the same shape (ratio = its median_s / base_einsum.json's)"
timeout 240 "$py" benchmarks/train_step.py "${base[@]/ours/hf}" --warmup 2 --steps 5 --json "$out/base_hf.json" \
    2>&1 | grep -v "^WARNING" | tail -n 8
echo "== ours vs HF PyTorch at batch 32 (session 1's comparison)"
timeout 240 "$py" benchmarks/train_step.py --model base --batch 32 --dtype bfloat16 --peak-tflops 989 --warmup 3 \
    --steps 10 --json "$out/base_b32_vs_hf.json" 2>&1 | grep -v "^WARNING" | tail -n 8

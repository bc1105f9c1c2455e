#!/usr/bin/env bash
# The GPU benchmark in one command, for a machine with a GPU, JAX and no TensorFlow.
#
#   bash benchmarks/gpu.sh            # writes its tables into $OUT (default build/gpu/)
#
# Keras and its two small dependencies travel as wheels in .whl/ (see docs/performance.md). The CPU
# references of the parity check travel in build/parity/ (benchmarks/gpu_parity.py reference build/parity,
# on TensorFlow and on JAX); without them that step is skipped. The cheap and decisive steps come first.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/gpu}
mkdir -p "$OUT"
if ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import jax, keras; print('jax', jax.__version__, 'keras', keras.__version__, jax.devices())" | tee -a "$OUT/gpu.txt"
if [ -d build/parity ]; then  # float32 selectivity on the GPU against the CPU's, within 1e-4
  python3 benchmarks/gpu_parity.py check build/parity --also-tf32 --batch-size 64 2>&1 | tee "$OUT/parity.txt" \
    || echo "THE PARITY CHECK FAILED" | tee -a "$OUT/parity.txt"
fi
python3 benchmarks/first_result.py --images 1200 --batch-size 256 --precision bfloat16 2>&1 | tee "$OUT/first_result.txt"
python3 benchmarks/capture_speed.py --images 1200 --batch-sizes 256 --precisions float32,bfloat16 \
  --skip-full-maps 2>&1 | tee "$OUT/capture.txt"
if [ "$(nvidia-smi -L | wc -l)" -gt 1 ]; then  # every GPU of the machine, one batch split over them
  python3 benchmarks/capture_speed.py --images 4800 --batch-sizes 1024 --precisions bfloat16 --devices all \
    --skip-full-maps 2>&1 | tee "$OUT/capture_all_gpus.txt"
fi
# where the capture's time goes, stage by stage (arrays and bytes per image leaving the device included); to
# compare with the code before the one-buffer transfer and the writer thread, run the same line in a
# `git worktree` of 2928d09 with PYTHONPATH pointing at it
python3 benchmarks/capture_profile.py --images 2560 --batch-size 256 --precision bfloat16 2>&1 \
  | tee "$OUT/profile.txt"
if python3 -c "import distributed" 2>/dev/null; then  # the single-GPU gap of the distributed runner
  python3 benchmarks/distributed_gpu.py --images 8192 --image-size 64 --batch-size 128 2>&1 \
    | tee "$OUT/distributed.txt"
fi
python3 benchmarks/decode_speed.py --images 2048 2>&1 | tee "$OUT/decode.txt"
# GPU JPEG decoding (nvJPEG through torchvision, where installed) against catsel's decoding processes
if python3 -c "import torchvision" 2>/dev/null; then
  python3 benchmarks/gpu_decode.py --images 2048 --batch-size 256 2>&1 | tee "$OUT/gpu_decode.txt" \
    || echo "GPU DECODING COULD NOT BE MEASURED" | tee -a "$OUT/gpu_decode.txt"
fi
python3 benchmarks/precision_effect.py --image-size 224 2>&1 | tee "$OUT/precision.txt"
python3 benchmarks/memory_10k.py --images 10000 --image-size 224 --batch-size 256 2>&1 | tee "$OUT/memory.txt"

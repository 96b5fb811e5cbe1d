#!/usr/bin/env bash
# Scoring and training speed on one GPU (issue 16 item 6).
#
#   bash benchmarks/gpu.sh 2>&1 | tee "$OUT/gpu.log"   # the GPU machine (one H200: 4-5 min, est.)
#   TINY=1 bash benchmarks/gpu.sh                      # here, on the CPU (2-4 min)
#
# 1. Scoring (python -m benchmarks.scoring): cnn1d and cnn2d with random weights, DUSE margin,
#    over FRAMES (1,000,000) seeded random frames at L=1024, 24 classes (rml2018a's shape:
#    8 GiB, written to WORKDIR by one process per core after a free-disk check): the ceiling (forward on a resident
#    batch on the GPU), a plain PyTorch loop (pyarrow shards -> GPU -> softmax -> margin) and
#    our Ray Data pass (engine.scoring.score_and_select: one actor holding the GPU,
#    ScoringConfig.gpus_per_actor 1, all cores' threads), BATCH (4096) frames per model call,
#    REPEATS (1) interleaved repetitions; prints Ray / plain and Ray / ceiling.
# 2. Training (python -m benchmarks.training): cnn1d and cnn2d at L=1024, training steps on
#    resident tensors (batch 1024) and one epoch of engine.training.fit on the GPU
#    (TrainConfig.use_gpu) over EPOCH_FRAMES (200,000) frames; prints epoch / resident, what
#    copying each batch from host memory costs.
# Without CUDA the same code runs with device cpu and no GPU actor. TINY=1 sizes it for the
# CPU: 1,024 frames at L=128, 11 classes, batch 256, one ceiling batch, 512 epoch frames.
#
# Writes $RESULTS_DIR/gpu-scoring.json and gpu-training.json (TINY: gpu-scoring-tiny.json,
# gpu-training-tiny.json; RESULTS_DIR defaults to benchmarks/results), each with the machine,
# the GPU's name, the load at start and end and the command; copies them to $OUT when set
# (the device tool's output folder). Exits 3 when a step failed or passed its time limit
# (SCORING_TIMEOUT_S 330 s, TRAINING_TIMEOUT_S 180 s). Knobs: FRAMES, BATCH, REPEATS,
# EPOCH_FRAMES, WORKDIR, RESULTS_DIR and the two limits.
set -euo pipefail
cd "$(dirname "$0")/.."
. benchmarks/gpu_env.sh
gpu_env_activate

TINY=${TINY:-0}
CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
if [ "$CUDA" = 1 ]; then DEVICE=cuda GPUS=1; else DEVICE=cpu GPUS=0; fi
if [ "$TINY" = 1 ]; then
    SUFFIX=-tiny LENGTH=128 CLASSES=11
    FRAMES=${FRAMES:-1024} BATCH=${BATCH:-256} CEILING_BATCHES=1 REPEATS=${REPEATS:-1}
    STEPS=1 TRAIN_BATCH=32 EPOCH_FRAMES=${EPOCH_FRAMES:-512} EPOCH_BATCH=128
    SCORING_TIMEOUT_S=${SCORING_TIMEOUT_S:-900} TRAINING_TIMEOUT_S=${TRAINING_TIMEOUT_S:-900}
else
    SUFFIX="" LENGTH=1024 CLASSES=24
    FRAMES=${FRAMES:-1000000} BATCH=${BATCH:-4096} CEILING_BATCHES=50 REPEATS=${REPEATS:-1}
    STEPS=20 TRAIN_BATCH=1024 EPOCH_FRAMES=${EPOCH_FRAMES:-200000} EPOCH_BATCH=1024
    SCORING_TIMEOUT_S=${SCORING_TIMEOUT_S:-330} TRAINING_TIMEOUT_S=${TRAINING_TIMEOUT_S:-180}
fi
RESULTS_DIR=${RESULTS_DIR:-benchmarks/results}
SCORING="$RESULTS_DIR/gpu-scoring$SUFFIX.json"
TRAINING="$RESULTS_DIR/gpu-training$SUFFIX.json"
if [ -z "${WORKDIR:-}" ]; then
    WORKDIR=$(mktemp -d /tmp/duse-gpu-XXXXXX)
    trap 'rm -rf "$WORKDIR"' EXIT
fi
mkdir -p "$RESULTS_DIR"
echo "gpu: device $DEVICE, $FRAMES frames at L=$LENGTH, batch $BATCH, pool in $WORKDIR" \
    "($(df -h --output=avail "$WORKDIR" | tail -1 | tr -d ' ') free)"

# Each step has its own time limit (the device tool stops a command at 600 s); a step that
# fails or overruns is reported and the next one still runs. gpu-scoring.json is written after
# each model.
rm -f "$SCORING" "$TRAINING" # fresh records (benchmarks.training merges into an existing file)
scoring_rc=0
timeout --signal=INT --kill-after=20 "$SCORING_TIMEOUT_S" \
    "$PY" -m benchmarks.scoring --pool "$FRAMES" --length "$LENGTH" --classes "$CLASSES" \
    --models cnn1d cnn2d --batch "$BATCH" --device "$DEVICE" --gpus-per-actor "$GPUS" \
    --ceiling-batches "$CEILING_BATCHES" --repeats "$REPEATS" --memory-sizes \
    --workdir "$WORKDIR" --write-workers "$(nproc)" --results "$SCORING" || scoring_rc=$?
training_rc=0
timeout --signal=INT --kill-after=20 "$TRAINING_TIMEOUT_S" \
    "$PY" -m benchmarks.training --models cnn1d cnn2d --shapes "${LENGTH}x$CLASSES" \
    --devices "$DEVICE" --steps "$STEPS" --batch "$TRAIN_BATCH" --skip-overhead \
    --epoch-models cnn1d cnn2d --epoch-frames "$EPOCH_FRAMES" \
    --epoch-shape "${LENGTH}x$CLASSES" --epoch-batch "$EPOCH_BATCH" \
    --workdir "$WORKDIR" --write-workers "$(nproc)" --results "$TRAINING" || training_rc=$?

"$PY" - "$SCORING" "$TRAINING" <<'PYTHON'
"""The ratios of both records, one line per model (what exists of them)."""
import json, os, sys

scoring, training = (json.load(open(p)) if os.path.exists(p) else {} for p in sys.argv[1:3])
if scoring:
    print(f"gpu: {scoring['machine']} | GPU {scoring['gpu']} | {scoring['pool']:,} frames at "
          f"L={scoring['length']}, batch {scoring['batch']}, device {scoring['device']}")
for name, figures in scoring.get("throughput", {}).items():
    print(f"  scoring {name:6s} ceiling {figures['ceiling_samples_per_s']:>12,.0f}/s  plain "
          f"{figures['plain_loop_samples_per_s']:>12,.0f}/s  "
          f"ray {figures['ray_data_samples_per_s']:>12,.0f}/s  "
          f"ray/plain {figures['ray_vs_plain']:.3f}  ray/ceiling {figures['ray_vs_ceiling']:.3f}")
for key, epoch in training.get("epoch", {}).items():
    print(f"  training {key}: epoch {epoch['epoch_samples_per_s']:,.0f}/s, resident steps "
          f"{epoch['resident_samples_per_s']:,.0f}/s, "
          f"epoch/resident {epoch['epoch_vs_resident']:.3f}")
PYTHON
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    for file in "$SCORING" "$TRAINING"; do
        if [ -f "$file" ]; then cp "$file" "$OUT/"; fi
    done
fi
echo "gpu: wrote $SCORING $TRAINING (exit codes: scoring $scoring_rc, training $training_rc)"
if [ "$scoring_rc" -ne 0 ] || [ "$training_rc" -ne 0 ]; then
    exit 3
fi

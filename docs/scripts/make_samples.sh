#!/usr/bin/env bash
# Trains each plugin's default config and writes the samples shown on the plugin pages of the docs.
#
#   bash docs/scripts/make_samples.sh                    # all five plugins, one after the other
#   bash docs/scripts/make_samples.sh dcgan vae          # some of them
#
# Runs and full predict outputs go to runs/docs-samples/<plugin>/ (git-ignored); only what the pages embed is
# copied to docs/assets/samples/<plugin>/. MAX_STEPS_<PLUGIN> (e.g. MAX_STEPS_STYLEGAN_LITE=1500) lowers a
# config's trainer.max_steps; the pages must then say so. On a shared CPU, keep OMP_NUM_THREADS at 1-2.
set -euo pipefail

cd "$(dirname "$0")/../.."
GENFW=${GENFW:-.venv/bin/genfw}
PYTHON=${PYTHON:-.venv/bin/python}
RUNS=runs/docs-samples
ASSETS=docs/assets/samples
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}   # idle OpenMP threads sleep instead of spinning
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

declare -A CONFIG=(
  [dcgan]=configs/dcgan/mnist.yaml
  [vae]=configs/vae/mnist.yaml
  [gpt_mini]=configs/gpt_mini/pydocs.yaml
  [wavenet_lite]=configs/wavenet_lite/melodies.yaml
  [stylegan_lite]=configs/stylegan_lite/mnist.yaml
)

run() {
  # Prints the command, runs it, and appends it with its wall time to $RUNS/commands.log.
  local began=$SECONDS command
  command=$(printf '%q ' "$@")
  echo "+ $command"
  "$@"
  echo "$(date -u +%FT%TZ) $((SECONDS - began)) s: $command" >>"$RUNS/commands.log"
}

fit() {
  local plugin=$1 steps_var="MAX_STEPS_${1^^}"
  local extra=()
  if [[ -n "${!steps_var:-}" ]]; then extra=(--trainer.max_steps "${!steps_var}"); fi
  rm -rf "${RUNS:?}/$plugin"
  run "$GENFW" fit --config "${CONFIG[$plugin]}" --trainer.logger.init_args.save_dir "$RUNS" \
    --trainer.enable_progress_bar false "${extra[@]}"
  # The run's last validation numbers, quoted on its page.
  "$PYTHON" docs/scripts/last_scalars.py "$RUNS/$plugin/version_0" | tee "$RUNS/$plugin/val_scalars.txt"
}

predict() {
  local plugin=$1
  shift
  run "$GENFW" predict --ckpt_path "$RUNS/$plugin/version_0/checkpoints/last.ckpt" \
    --output_dir "$RUNS/$plugin/predict" "$@"
}

samples_dcgan() {
  fit dcgan
  predict dcgan --num_samples 64
  cp "$RUNS/dcgan/predict/grid.png" "$ASSETS/dcgan/samples.png"
}

samples_vae() {
  fit vae
  predict vae --num_samples 64
  run "$PYTHON" -m gen_framework_vae.visualise --ckpt_path "$RUNS/vae/version_0/checkpoints/last.ckpt" \
    --output_dir "$RUNS/vae/visualise" --num_images 32 --pairs 4 --steps 10
  cp "$RUNS/vae/predict/grid.png" "$ASSETS/vae/samples.png"
  cp "$RUNS/vae/visualise/reconstructions.png" "$RUNS/vae/visualise/interpolation.png" "$ASSETS/vae/"
}

samples_gpt_mini() {
  fit gpt_mini
  predict gpt_mini --num_samples 4 --sampling.prompt "def " --sampling.max_new_tokens 300 \
    --sampling.temperature 0.8 --sampling.top_k 20
  local out="$ASSETS/gpt_mini/samples.txt" file
  : >"$out"
  for file in "$RUNS"/gpt_mini/predict/*.txt; do
    printf '%s\n' "----- $(basename "$file")" >>"$out"
    cat "$file" >>"$out"
    printf '\n' >>"$out"
  done
}

samples_wavenet_lite() {
  fit wavenet_lite
  predict wavenet_lite --num_samples 4 --sampling.seconds 3 --sampling.temperature 0.9
  # Two of the four clips: 16-bit mono at 16 kHz is 32 KB per second.
  cp "$RUNS/wavenet_lite/predict/sample_00000.wav" "$RUNS/wavenet_lite/predict/sample_00001.wav" \
    "$ASSETS/wavenet_lite/"
  run "$PYTHON" docs/scripts/spectrogram.py "$ASSETS/wavenet_lite/spectrogram.png" \
    "$ASSETS/wavenet_lite/sample_00000.wav" "$ASSETS/wavenet_lite/sample_00001.wav"
}

samples_stylegan_lite() {
  fit stylegan_lite
  predict stylegan_lite --num_samples 64 --sampling.truncation_psi 0.7
  run "$PYTHON" -m gen_framework_stylegan_lite.mixing \
    --ckpt_path "$RUNS/stylegan_lite/version_0/checkpoints/last.ckpt" --output "$RUNS/stylegan_lite/mixing" \
    --rows 4 --cols 4 --truncation_psi 0.7
  cp "$RUNS/stylegan_lite/predict/grid.png" "$ASSETS/stylegan_lite/samples.png"
  cp "$RUNS/stylegan_lite/mixing/style_mixing.png" "$ASSETS/stylegan_lite/"
}

plugins=("$@")
if [[ ${#plugins[@]} -eq 0 ]]; then plugins=(dcgan vae wavenet_lite gpt_mini stylegan_lite); fi
mkdir -p "$RUNS"
for plugin in "${plugins[@]}"; do
  if [[ -z "${CONFIG[$plugin]:-}" ]]; then
    echo "make_samples.sh: unknown plugin '$plugin' (one of: ${!CONFIG[*]})" >&2
    exit 2
  fi
  mkdir -p "$ASSETS/$plugin"
  "samples_$plugin"
done

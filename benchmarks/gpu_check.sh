#!/usr/bin/env bash
# GPU readiness: every installed plugin trains a few steps on the GPUs of this machine.
#
#   bash benchmarks/gpu_check.sh [OUTPUT_JSON]      # default: benchmarks/results/gpu_check.json
#
# Cases, each in its own process (a failure or a hang does not stop the others):
#   - every plugin, bf16-mixed and 16-mixed, 1 GPU;
#   - every plugin, DDP on all visible GPUs (bf16-mixed), with identical weights on every rank afterwards;
#   - GPT-mini under FSDP on all visible GPUs (bf16-mixed), each transformer block wrapped;
#   - every plugin with its networks under torch.compile (bf16-mixed, 1 GPU);
#   - the CUDA random-state tests (tests/families/test_rank_randomness.py -k cuda).
# Prints one line per case and writes them all as JSON. Without a CUDA device it says so, writes a JSON
# saying why, and exits 0. Environment: GENFW_GPU_STEPS (default 3), GENFW_GPU_TIMEOUT seconds per case
# (default 600), GENFW_GPU_PLUGINS (default: every installed plugin), PYTHON (default: python).
# GENFW_GPU_CHECK_ACCELERATOR=cpu rehearses the script itself on 2 CPU processes (16-mixed and FSDP need a GPU
# and are expected to fail there).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTPUT="${1:-$ROOT/benchmarks/results/gpu_check.json}"
PYTHON="${PYTHON:-python}"
# the cases run in their own directories: make a relative interpreter path absolute (keeping a venv's link)
if [[ "$PYTHON" == */* ]]; then PYTHON="$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")"; fi
STEPS="${GENFW_GPU_STEPS:-3}"
TIMEOUT="${GENFW_GPU_TIMEOUT:-600}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

ACCELERATOR="${GENFW_GPU_CHECK_ACCELERATOR:-gpu}"
if [ "$ACCELERATOR" = "cpu" ]; then
  GPUS=2
else
  GPUS="$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')"
fi
if [ "$GPUS" = "0" ]; then
  echo "gpu_check: SKIPPED — no CUDA device visible (torch.cuda.is_available() is False); nothing was run"
  mkdir -p "$(dirname "$OUTPUT")"
  "$PYTHON" - "$OUTPUT" <<'EOF'
import json, sys, torch
json.dump({"skipped": "no CUDA device visible", "torch": torch.__version__, "cases": []}, open(sys.argv[1], "w"), indent=2)
EOF
  exit 0
fi

cat > "$WORK/case.py" <<'EOF'
"""One GPU case: python case.py REQUEST_JSON. Lightning's DDP launcher re-executes this file for each rank."""
import json, sys, time
from pathlib import Path

import pytorch_lightning as pl
import torch

from gen_framework.registry import get_plugin
from gen_framework.testing.kit import KitContext

request = json.loads(sys.argv[1])
out = Path(request["out"])
spec = get_plugin(request["plugin"])
pl.seed_everything(0, verbose=False)
ctx = KitContext(spec, out / "kit")
model = ctx.make_model()
data = ctx.make_data(model, count=64)
if request["compile"]:
    for child in model.children():
        child.compile()  # in place: state-dict keys stay as they are
strategy = request["strategy"]
if strategy == "fsdp":
    from pytorch_lightning.strategies import FSDPStrategy
    from gen_framework_gpt_mini.model import Block
    strategy = FSDPStrategy(auto_wrap_policy={Block}, sharding_strategy="FULL_SHARD")


class Record(pl.Callback):
    def on_train_end(self, trainer, module):
        if request["strategy"] == "ddp":
            state = {k: v.detach().float().cpu() for k, v in module.state_dict().items()}
            torch.save(state, out / f"rank{trainer.global_rank}.pt")


start = time.perf_counter()
trainer = pl.Trainer(accelerator=request["accelerator"], devices=request["devices"], strategy=strategy,
                     precision=request["precision"], max_steps=request["steps"], logger=False,
                     enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                     limit_val_batches=0, num_sanity_val_steps=0, callbacks=[Record()])
trainer.fit(model, data)
finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
if trainer.is_global_zero:
    result = {"global_step": trainer.global_step, "seconds": time.perf_counter() - start, "finite": finite}
    (out / "result.json").write_text(json.dumps(result))
EOF

cat > "$WORK/judge.py" <<'EOF'
"""Judge one case: python judge.py CASE_JSON RETURN_CODE LOG -> prints the line, appends to cases.jsonl."""
import json, sys
from pathlib import Path

import torch

case, code, log = json.loads(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
out = Path(case["out"])
result_file = out / "result.json"
status, note = "ok", ""
if code != 0 or not result_file.is_file():
    status = "timeout" if code == 124 else "FAIL"
    lines = [l for l in log.read_text(errors="replace").splitlines() if l.strip()]
    note = lines[-1][:200] if lines else f"exit code {code}"
else:
    result = json.loads(result_file.read_text())
    case.update(result)
    if result["global_step"] != case["steps"]:
        status, note = "FAIL", f"global_step {result['global_step']} != max_steps {case['steps']}"
    elif not result["finite"]:
        status, note = "FAIL", "non-finite weights"
    elif case["strategy"] == "ddp":
        states = [torch.load(p, weights_only=True) for p in sorted(out.glob("rank*.pt"))]
        differing = [k for s in states[1:] for k in s if not torch.equal(s[k], states[0][k])]
        if len(states) != case["devices"] or differing:
            status, note = "FAIL", f"ranks differ: {differing[:3]}"
case.update(status=status, note=note)
seconds = f"{case['seconds']:.1f} s" if "seconds" in case else "-"
print(f"{status:7} {case['name']:44} {seconds:>9}  {note}", flush=True)
with open(sys.argv[4], "a") as f:
    f.write(json.dumps(case) + "\n")
EOF

PLUGINS="${GENFW_GPU_PLUGINS:-$("$PYTHON" -c 'from gen_framework.registry import list_plugins; print(" ".join(r.name for r in list_plugins() if r.status == "ok"))')}"
echo "gpu_check: $GPUS $ACCELERATOR device(s): $("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")'); plugins: $PLUGINS"
CASES="$WORK/cases.jsonl"
: > "$CASES"

run_case() {  # name plugin precision strategy devices compile
  local name="$1" dir="$WORK/$1"
  mkdir -p "$dir"
  local request
  request="$("$PYTHON" -c 'import json, sys; a = sys.argv[1:]; print(json.dumps({"name": a[0], "plugin": a[1], "precision": a[2], "strategy": a[3], "devices": int(a[4]), "compile": a[5] == "1", "steps": int(a[6]), "out": a[7], "accelerator": a[8]}))' \
    "$name" "$2" "$3" "$4" "$5" "$6" "$STEPS" "$dir" "$ACCELERATOR")"
  local code=0
  (cd "$dir" && timeout "$TIMEOUT" "$PYTHON" "$WORK/case.py" "$request") > "$dir/log.txt" 2>&1 || code=$?
  "$PYTHON" "$WORK/judge.py" "$request" "$code" "$dir/log.txt" "$CASES" || true
}

for plugin in $PLUGINS; do
  for precision in bf16-mixed 16-mixed; do
    run_case "$plugin-$precision-1gpu" "$plugin" "$precision" auto 1 0
  done
done
for plugin in $PLUGINS; do
  run_case "$plugin-bf16-mixed-ddp-${GPUS}gpu" "$plugin" bf16-mixed ddp "$GPUS" 0
done
case " $PLUGINS " in
  *" gpt_mini "*) run_case "gpt_mini-bf16-mixed-fsdp-${GPUS}gpu" gpt_mini bf16-mixed fsdp "$GPUS" 0 ;;
esac
for plugin in $PLUGINS; do
  run_case "$plugin-bf16-mixed-compile-1gpu" "$plugin" bf16-mixed auto 1 1
done

code=0
(cd "$ROOT" && timeout "$TIMEOUT" "$PYTHON" -m pytest -q -p no:cacheprovider tests/families/test_rank_randomness.py -k cuda) \
  > "$WORK/cuda_rng.txt" 2>&1 || code=$?
summary="$(tail -n 1 "$WORK/cuda_rng.txt")"
status=ok; [ "$code" = 0 ] || status=FAIL
printf '%-7s %-44s %9s  %s\n' "$status" "cuda-rng-state-tests" "-" "$summary"
"$PYTHON" -c 'import json, sys; print(json.dumps({"name": "cuda-rng-state-tests", "status": sys.argv[1], "note": sys.argv[2]}))' \
  "$status" "$summary" >> "$CASES"

mkdir -p "$(dirname "$OUTPUT")"
"$PYTHON" - "$CASES" "$OUTPUT" <<'EOF'
import json, sys, torch
cases = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
available = torch.cuda.is_available()
machine = {"gpus": torch.cuda.device_count(), "gpu": torch.cuda.get_device_name(0) if available else None,
           "torch": torch.__version__, "cuda": torch.version.cuda}
failed = [c["name"] for c in cases if c["status"] != "ok"]
json.dump({"machine": machine, "cases": cases, "failed": failed}, open(sys.argv[2], "w"), indent=2)
print(f"gpu_check: {len(cases) - len(failed)}/{len(cases)} cases ok; wrote {sys.argv[2]}")
sys.exit(1 if failed else 0)
EOF

"""The benchmarks page renders from results files, and the runner passes --quick and --output through."""

import json
from pathlib import Path

import pytest

from benchmark_modules import load_benchmark

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def benchmarks():
    return load_benchmark("report"), load_benchmark("run")


MACHINE = {"cpu": "Test CPU", "cores": 2, "threads": 1, "torch": "2.13.0+cpu", "load_average": 0.5}


def overhead(genfw, plain, points=None):
    """Results as dcgan_vae.py writes them; ``points``: the compute-matched split (Lightning, base, defaults)."""
    cpu = {"genfw_ms_per_step": genfw, "plain_ms_per_step": plain, "overhead_percent": round(100 * (genfw / plain - 1), 1)}
    entry = {"steps_per_run": 10, "repeats": 2, "cpu": cpu}
    if points is not None:
        entry["compute_matched"] = {
            "overhead_percent": round(sum(points), 1), "plain_compute_ms": plain - 1.0, "plain_other_ms": 1.0,
            **dict(zip(("lightning_loop_points", "family_base_points", "genfw_defaults_points"), points)),
        }
        # other/compute ratios that give those points: r = r_plain + points / 100 * (1 + r_plain)
        r_plain = 1.0 / (plain - 1.0)
        entry["compute_matched"]["minimal_other_over_compute"] = r_plain + points[0] / 100 * (1 + r_plain)
        entry["compute_matched"]["genfw_other_over_compute"] = r_plain + sum(points) / 100 * (1 + r_plain)
    return entry


def ratio(value):
    return {"trainer_tokens_per_s_median": 9000, "plain_tokens_per_s_median": 10000,
            "trainer_over_plain_median_of_pairs": value}


FAKE_RESULTS = {
    "dcgan_vae": {
        "dcgan_overhead": overhead(30.0, 29.5),  # +1.7%: meets the 3% target
        "vae_overhead": overhead(24.0, 20.0, points=(3.0, 1.0, 1.0)),  # compute-matched +5%: misses it
        "dcgan_quality": [{"cpu_seconds": 0.0, "steps": 0, "confident_fraction": 0.0, "classes_covered": 0},
                          {"cpu_seconds": 60.0, "steps": 900, "confident_fraction": 0.5, "classes_covered": 10}],
        "vae_quality": [{"cpu_seconds": 0.0, "steps": 0, "iwae_nll_nats": 480.0},
                        {"cpu_seconds": 60.0, "steps": 900, "iwae_nll_nats": 110.0}],
    },
    "gpt_mini": {
        "quality_300_steps": {"steps": 300, "val_loss_nats_per_char": 2.2, "val_bits_per_char": 3.17,
                              "target": 2.25, "meets_target": True},
        "throughput": {"repeats": 1, "steps_timed": 10, "threads": 2, "cpu": ratio(0.9), "wall": ratio(0.95)},
        # raw ratio 0.9 (+11.1%) from a slow spell; compute-matched +2.0%: the verdict
        "throughput_1_thread": {"repeats": 1, "steps_timed": 10, "threads": 1, "cpu": ratio(0.9),
                                "compute_matched": {"overhead_percent": 2.0}},
        "kv_cache": {"new_tokens": 64, "threads": 2, "cached_tokens_per_s": 2000, "recomputed_tokens_per_s": 200,
                     "speedup": 10.0, "identical_tokens": True, "target": ">= 8x", "meets_target": True},
    },
    "wavenet_lite": {"speed": {"default": {
        "receptive_field_samples": 1025, "receptive_field_ms": 64.1, "cached_us_per_sample_cpu": 200.0,
        "recompute_us_per_sample_cpu": 12000.0, "speedup_cpu": 60.0, "rtf_batch1_cpu": 3.2,
        "cached_equals_recompute_tokens": True}}},
    "ddp_scaling": {"dcgan": {"items_per_second_1x1": 100.0, "items_per_second_2x1": 150.0, "speedup": 1.5,
                              "goal": 1.8}},
    "stylegan_lite": {
        "metric": {"real_vs_real_floor": {"fd_digits": 15.0}},
        "stylegan_lite_quality": {"median_over_seeds": [
            {"cpu_seconds": 0.0, "fd_digits": 900.0, "pixel_fd": 70.0, "classes_covered": 2},
            {"cpu_seconds": 60.0, "fd_digits": 500.0, "pixel_fd": 6.0, "classes_covered": 4}]},
        "dcgan_quality": {"median_over_seeds": [
            {"cpu_seconds": 0.0, "fd_digits": 2000.0, "pixel_fd": 50.0, "classes_covered": 0},
            {"cpu_seconds": 60.0, "fd_digits": 40.0, "pixel_fd": 0.8, "classes_covered": 10}]},
    },
    "compile_precision": {
        "eager": {"precision": "32-true", "cpu_ms_per_step": 60.0, "speed_vs_eager_cpu": 1.0},
        "compile": {"precision": "32-true", "cpu_ms_per_step": 55.0, "speed_vs_eager_cpu": 1.09,
                    "compile_s_cold": 30.0},
        "bf16": {"precision": "bf16-mixed", "cpu_ms_per_step": 3000.0, "speed_vs_eager_cpu": 0.02},
        "matmul_gflops": {"fp32": 60.0, "bf16": 1.0},
        "cpu_flags": ["avx2"],
    },
    "callback_cost": {
        "gpt_mini": {"step_cpu_ms": 70.0, "all_callbacks_us_per_step": 140.0, "all_callbacks_share_percent": 0.2,
                     "callbacks": [{"callback": "ProgressBar", "hooks_run": ["on_train_batch_end"],
                                    "us_per_step": 140.0, "share_of_step_percent": 0.2},
                                   {"callback": "SignalStop", "hooks_run": [], "us_per_step": 0.0,
                                    "share_of_step_percent": 0.0}]},
        "vae": {"step_cpu_ms": 10.0, "all_callbacks_us_per_step": 150.0, "all_callbacks_share_percent": 1.5,
                "callbacks": []},
    },
    "startup": {
        "help": {"median_wall_s": 0.2, "median_cpu_s": 0.1},
        "plugins": {"median_wall_s": 0.6, "median_cpu_s": 0.2},
        "plugins_cold": {"median_wall_s": 8.0, "median_cpu_s": 5.0},
        "import_torch": {"median_wall_s": 2.0, "median_cpu_s": 1.0},
        "import_floor": {"median_wall_s": 7.0, "median_cpu_s": 4.0},
        "fit": {
            "dcgan/mnist": {"median_first_step_wall_s": 10.0, "median_first_step_cpu_s": 9.0,  # misses 5 s
                            "median_phase_cpu_s": {"floor": 4.0, "built": 0.5, "setup": 0.1, "first_batch": 0.05},
                            "median_floor_in_run_cpu_s": 4.2, "median_over_floor_in_run_cpu_s": 4.8},
            "vae/mnist": {"median_first_step_wall_s": 6.0, "median_first_step_cpu_s": 4.8},
        },
        "fit_baseline": {"vae/mnist": {"median_first_step_wall_s": 7.0, "median_first_step_cpu_s": 5.9}},
        "importtime_ms": {"pytorch_lightning": 5000.0, "torch": 1800.0},
        "floor_optional_imports": {"modules": ["scipy.signal"], "median_cpu_s": 0.5},
    },
}
PLOTS = {"overhead", "dcgan_vae_quality", "gpt_mini_kv_cache", "wavenet_fast_generation", "ddp_scaling",
         "stylegan_vs_dcgan", "compile_precision", "callback_cost", "startup"}


def write_results(folder: Path, names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        payload = {"machine": MACHINE, "results": FAKE_RESULTS[name]}
        (folder / f"{name}.json").write_text(json.dumps(payload), encoding="utf-8")
    return folder


def test_page_has_a_table_and_a_plot_per_benchmark(benchmarks, tmp_path):
    report, _ = benchmarks
    results = write_results(tmp_path / "results", FAKE_RESULTS)
    page = report.render(results, tmp_path / "docs").read_text(encoding="utf-8")

    for heading in ("## Summary", "## Framework overhead per family", "## GPT-mini", "## WaveNet-lite",
                    "## DDP scaling", "## StyleGAN-lite against DCGAN", "## Compile and precision", "## Per-step cost of each callback",
                    "## Start-up time",
                    "## Machines"):
        assert heading in page
    assert "No results recorded yet" not in page
    summary = page.split("## Summary")[1].split("\n## ")[0]
    assert "| framework overhead | dcgan (adversarial) | +1.7% CPU time | ≤ 3% | **met** |" in summary
    # Where both are recorded, the compute-matched estimate is the verdict, the raw ratio shown beside it.
    assert "| framework overhead | vae (variational) | +5.0% CPU time | ≤ 3% | **missed** |" in summary
    assert "| DDP scaling | dcgan, 2 processes | 1.50× | ≥ 1.8× | **missed** |" in summary
    assert "| Start-up | `genfw --help` | 0.10 s CPU | ≤ 1.5 s | **met** |" in summary
    assert "| Start-up | `genfw fit --config configs/dcgan/mnist.yaml` to its first step | 9.00 s CPU | ≤ 5 s | **missed** |" in summary
    assert "| Start-up | `genfw fit --config configs/vae/mnist.yaml` to its first step | 4.80 s CPU | ≤ 5 s | **met** |" in summary
    # over the floor: within each run where measured (dcgan), else against the separate floor runs (vae)
    assert "| `genfw fit --config configs/dcgan/mnist.yaml` to its first step | 10.00 | 9.00 | +4.80 | ≤ 5 s | **missed** |" in page
    assert "| `genfw fit --config configs/vae/mnist.yaml` to its first step | 6.00 | 4.80 | +0.80 | ≤ 5 s | **met** |" in page
    assert "| `dcgan/mnist` | 4.00 | 0.50 | 0.10 | — | — | — | 0.05 |" in page
    assert "| `vae/mnist` | 5.90 | 4.80 | -1.10 | — | — |" in page
    assert "Of the floor, 0.50 CPU-s are `scipy.signal`" in page and "the floor is about 3.70 CPU-s" in page
    assert "| framework step cost | gpt_mini: all callbacks' hooks per step | 0.20% of the step | ≤ 1% | **met** |" in summary
    assert "| framework step cost | vae: all callbacks' hooks per step | 1.50% of the step | ≤ 1% | **missed** |" in summary
    assert "| gpt_mini | ProgressBar | train_batch_end | 140.0 | 0.200% |" in page
    assert "| gpt_mini | SignalStop | none (skipped) | 0.0 | 0.000% |" in page
    assert "| framework overhead | gpt_mini (autoregressive, 2 threads) | +11.1% CPU time | ≤ 3% | **missed** |" in summary
    assert "| framework overhead | gpt_mini (autoregressive, 1 thread) | +2.0% CPU time | ≤ 3% | **met** |" in summary
    assert "| variational | vae | 24.0 ms | 20.0 ms | +5.0% | +20.0% |" in page
    assert "| adversarial | dcgan | 30.0 ms | 29.5 ms | — | +1.7% |" in page
    # The split: Lightning's loop 3 points, the family base 1, genfw's defaults 1, of a 20 ms step.
    # genfw's share over the minimal module: 1.05 / 1.03 - 1 = +1.94%, over the 1% target
    assert ("| vae | 20.0 ms | +3.00% (0.60 ms) | +1.00% (0.20 ms) | +1.00% (0.20 ms) | +5.0% | +1.94% | — | **missed** |"
            in page)
    assert ("| framework step cost | vae: genfw over a minimal LightningModule | +1.94% CPU time | ≤ 1% | **missed** |"
            in summary)
    assert "| `ddp_scaling.json` | Test CPU | 2 | 1 | 2.13.0+cpu | 0.50 |" in page
    assert "| bf16 | bf16-mixed | 3,000.0 |" in page
    assert "60.0 GFLOP/s in fp32 and 1.0 GFLOP/s in bf16 (CPU flags: `avx2`)" in page
    plots = {p.stem for p in (tmp_path / "docs" / "assets" / "benchmarks").glob("*.png")}
    assert plots == PLOTS
    for name in PLOTS:
        assert f"](assets/benchmarks/{name}.png)" in page


def test_missing_results_are_named_not_fatal(benchmarks, tmp_path):
    report, _ = benchmarks
    results = write_results(tmp_path / "results", ["ddp_scaling"])
    page = report.render(results, tmp_path / "docs").read_text(encoding="utf-8")
    assert "`python benchmarks/run.py --only compile_precision`" in page
    assert "`python benchmarks/run.py --only wavenet_lite`" in page
    assert [p.name for p in (tmp_path / "docs" / "assets" / "benchmarks").iterdir()] == ["ddp_scaling.png"]


def test_runner_passes_quick_and_output_through(benchmarks, tmp_path):
    _, run = benchmarks
    for name in run.BENCHMARKS:
        (quick,) = run.commands(name, True, tmp_path)
        assert quick[2:] == ["--quick", "--output", str(tmp_path / f"{name}.json")]
        assert all("--quick" not in cmd for cmd in run.commands(name, False, tmp_path))
        assert (BENCHMARKS / run.BENCHMARKS[name].script).is_file()


def test_render_only_measures_nothing(benchmarks, tmp_path):
    _, run = benchmarks
    results = write_results(tmp_path / "results", ["gpt_mini"])
    assert run.main(["--render-only", "--results", str(results), "--docs", str(tmp_path / "docs")]) == 0
    assert (tmp_path / "docs" / "benchmarks.md").is_file()
    assert sorted(p.name for p in results.iterdir()) == ["gpt_mini.json"]


def test_paired_rounds_cancel_drift_between_rounds():
    """Each round's runs are compared with each other: a drift from round to round leaves the shares exact."""
    paired_rounds = load_benchmark("dcgan_vae").paired_rounds
    drift = [0.0, 0.3, -0.02, 0.1, 0.25, 0.05, 0.2, 0.15]
    compute = [20.0 + 10 * d for d in drift]
    r_plain = [0.05 + d for d in drift]
    r_minimal = [r + 0.02 * (1 + r) for r in r_plain]  # Lightning's loop: 2% of the plain step
    r_lightning = [m + 0.005 * (1 + p) for m, p in zip(r_minimal, r_plain)]  # the family base: 0.5%
    r_genfw = [(1 + m) * 1.01 - 1 for m in r_minimal]  # genfw's share: 1%
    medians = {path: {"compute": compute, "other": [r * c for r, c in zip(ratios, compute)]}
               for path, ratios in (("plain", r_plain), ("minimal", r_minimal), ("lightning", r_lightning),
                                    ("genfw", r_genfw))}
    result = paired_rounds(medians)
    assert result["paired_genfw_share_percent"] == pytest.approx(1.0, abs=0.01)
    assert result["paired_genfw_share_quartiles"] == pytest.approx([1.0, 1.0], abs=0.01)
    assert result["paired_genfw_share_ci90"] == pytest.approx([1.0, 1.0], abs=0.01)
    assert result["paired_lightning_loop_points"] == pytest.approx(2.0, abs=0.01)
    assert result["paired_family_base_points"] == pytest.approx(0.5, abs=0.01)

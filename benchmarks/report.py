"""Renders the benchmarks page of the docs from the JSON files that the benchmark scripts write.

``render(results_dir, docs_dir)`` reads ``<results_dir>/<name>.json`` for every benchmark it knows, and writes
``<docs_dir>/benchmarks.md`` (a table per benchmark with its headline numbers, the target where one was set and
whether it is met, and the machine each file was measured on) and PNG plots in ``<docs_dir>/assets/benchmarks/``.
A missing file or entry leaves its section saying so; nothing is measured here.

    python benchmarks/report.py [--results benchmarks/results] [--docs docs]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
ASSETS = "assets/benchmarks"  # relative to the docs folder, as the page links them
TARGET_OVERHEAD_PERCENT = 3.0
TARGET_GENFW_SHARE_PERCENT = 1.0  # genfw fit over a minimal LightningModule under a bare Trainer
COLORS = {"genfw": "#3f51b5", "plain": "#9e9e9e", "target": "#e53935", "second": "#ff9800"}


class Page:
    """Markdown lines, the headline rows, and the plots of one page."""

    def __init__(self, docs_dir: Path) -> None:
        self.docs_dir = docs_dir
        self.lines: list[str] = []
        self.headlines: list[list[str]] = []
        self.machines: list[list[str]] = []
        self.figures: list[Path] = []

    def add(self, *paragraphs: str) -> None:
        for paragraph in paragraphs:
            self.lines.extend([paragraph, ""])

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "---|" * len(header))
        self.lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
        self.lines.append("")

    def headline(self, benchmark: str, measure: str, measured: str, target: str = "—", met: bool | None = None) -> None:
        self.headlines.append([benchmark, measure, measured, target, verdict(met)])

    def figure(self, name: str, fig: Any, caption: str) -> None:
        path = self.docs_dir / ASSETS / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        self.figures.append(path)
        self.add(f"![{caption}]({ASSETS}/{name}.png)")


# ------------------------------------------------------------------ formatting


def verdict(met: bool | None) -> str:
    return "—" if met is None else "**met**" if met else "**missed**"


def signed(value: Any, digits: int = 1) -> str:
    """``value`` with an explicit sign (``+5.0``, ``-1.4``); ``—`` when absent."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return num(value, digits)
    return f"{value:+,.{digits}f}"


def num(value: Any, digits: int = 1) -> str:
    """``value`` with ``digits`` decimals and thousands separators; ``—`` when absent."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,.{digits}f}"


def first(mapping: dict[str, Any], *keys: str) -> Any:
    return next((mapping[k] for k in keys if mapping.get(k) is not None), None)


def machine_row(name: str, data: dict[str, Any]) -> list[str]:
    """One row of the machine table; the scripts have written these fields under a few different names."""
    machine = data.get("machine", {})
    load: Any = first(machine, "load_average", "load_average_at_end", "load_average_at_start")
    if isinstance(load, list):
        load = load[0] if load else None
    load_text = num(load, 2)
    if load is None:  # benchmarks/gpt_mini.py records the load before and after each part instead
        values = [x for v in data.get("results", {}).values() if isinstance(v, dict)
                  for x in v.get("load_average") or [] if isinstance(x, int | float)]
        if values:
            load_text = f"{min(values):.2f}–{max(values):.2f} (per part)"
    return [f"`{name}.json`", first(machine, "cpu") or "—", num(first(machine, "cores", "cpu_count", "logical_cores"), 0),
            num(first(machine, "threads", "torch_threads"), 0), first(machine, "torch") or "—", load_text]


def threads_label(threads: Any) -> str:
    return f"{threads} thread" if threads == 1 else f"{threads} threads"


def minutes(seconds: float) -> str:
    """A CPU budget as the tables give it: ``0``, ``12 s``, ``1 min``, ``2.5 min``."""
    if not seconds:
        return "0"
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.3g} min"


# ------------------------------------------------------------------ sections, one per results file


def overhead(page: Page, results: dict[str, dict[str, Any]]) -> None:
    """Framework overhead per family: genfw fit (or a Trainer set up like it) against a plain PyTorch loop."""
    page.add("## Framework overhead per family",
             "The time of a training step under `genfw fit` (CLI, Trainer, logger, checkpointing, callbacks, progress "
             "bar) against a plain PyTorch loop doing the same work on the same batches, in process CPU time (the "
             "steady clock on a shared machine). GAN and VAE: `benchmarks/dcgan_vae.py`, ms per step; "
             "autoregressive: `benchmarks/gpt_mini.py`, tokens per CPU second (raw: median of the per-pair ratios). "
             f"Target: at most {TARGET_OVERHEAD_PERCENT:g}% overhead.",
             "On a shared machine the same convolutions run 10–30% faster or slower from one minute to the next, "
             "more than the few percent being measured, so every step is also split into *compute* "
             "(forward and backward passes of the networks and Adam's arithmetic, the same work in every loop) and "
             "*other* (everything around it). A slow spell stretches both alike, so a run's ratio "
             "r = other / compute holds steady where its times do not. The **compute-matched** overhead, "
             "(1 + r<sub>genfw</sub>) / (1 + r<sub>plain</sub>) − 1 with each r the median over repeats, is the "
             "verdict; the ratio of the raw step medians is shown beside it.")
    rows, bars, splits = [], [], []
    dcgan_vae = (results.get("dcgan_vae") or {}).get("results", {})
    # `dcgan_vae.py --parts overhead --output .../dcgan_vae_overhead.json` re-measures the step cost on its own
    # file, which then wins over the overhead entries of dcgan_vae.json
    dcgan_vae = {**dcgan_vae, **(results.get("dcgan_vae_overhead") or {}).get("results", {})}
    for family, plugin in (("adversarial", "dcgan"), ("variational", "vae")):
        entry = dcgan_vae.get(f"{plugin}_overhead")
        if not entry:
            continue
        cpu, wall, matched = entry["cpu"], entry.get("wall", {}), entry.get("compute_matched")
        percent = matched["overhead_percent"] if matched else cpu["overhead_percent"]
        rows.append([family, plugin, f"{num(cpu['genfw_ms_per_step'])} ms", f"{num(cpu['plain_ms_per_step'])} ms",
                     f"{signed(percent)}%" if matched else "—", f"{signed(cpu['overhead_percent'])}%",
                     f"{signed(wall.get('overhead_percent'))}%",
                     f"{entry.get('repeats', '—')} × {entry.get('steps_per_run', '—')} steps",
                     verdict(percent <= TARGET_OVERHEAD_PERCENT)])
        bars.append((f"{plugin}\n({family})", f"{plugin} ({family})", percent))
        if matched and "lightning_loop_points" in matched:
            splits.append((plugin, matched))
    gpt = (results.get("gpt_mini") or {}).get("results", {})
    for key in ("throughput", "throughput_1_thread"):
        entry = gpt.get(key)
        if not entry:
            continue
        cpu, wall, matched = entry["cpu"], entry.get("wall", {}), entry.get("compute_matched")
        raw = 100 * (1 / cpu["trainer_over_plain_median_of_pairs"] - 1)
        percent = matched["overhead_percent"] if matched else raw
        wall_ratio = wall.get("trainer_over_plain_median_of_pairs")
        threads = entry.get("threads", "?")
        rows.append([f"autoregressive ({threads_label(threads)})", "gpt_mini",
                     f"{num(cpu['trainer_tokens_per_s_median'], 0)} tokens/s",
                     f"{num(cpu['plain_tokens_per_s_median'], 0)} tokens/s",
                     f"{signed(percent)}%" if matched else "—", f"{signed(raw)}%",
                     f"{signed(100 * (1 / wall_ratio - 1))}%" if wall_ratio else "—",
                     f"{entry.get('repeats', '—')} × {entry.get('steps_timed', '—')} steps",
                     verdict(percent <= TARGET_OVERHEAD_PERCENT)])
        bars.append((f"gpt_mini\n({threads_label(threads)})", f"gpt_mini (autoregressive, {threads_label(threads)})",
                     percent))
        if matched and "family_base_points" in matched:
            splits.append((f"gpt_mini ({threads_label(threads)})", {
                **matched, "genfw_other_over_compute": matched["trainer_other_over_compute"],
                "genfw_other_over_compute_each": matched.get("trainer_other_over_compute_each")}))
    if not rows:
        page.add(missing("dcgan_vae", "gpt_mini"))
        return
    page.table(["family", "plugin", "genfw (CPU)", "plain loop (CPU)", "overhead, compute-matched",
                "overhead (CPU medians)", "overhead (wall medians)", "runs", f"≤ {TARGET_OVERHEAD_PERCENT:g}%"], rows)
    for _, label, percent in bars:
        page.headline("framework overhead", label, f"{signed(percent)}% CPU time", f"≤ {TARGET_OVERHEAD_PERCENT:g}%",
                      percent <= TARGET_OVERHEAD_PERCENT)
    if splits:
        overhead_split(page, splits)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.bar([b[0] for b in bars], [b[2] for b in bars], color=COLORS["genfw"])
    ax.axhline(TARGET_OVERHEAD_PERCENT, color=COLORS["target"], linestyle="--",
               label=f"target {TARGET_OVERHEAD_PERCENT:g}%")
    ax.set_ylabel("overhead over a plain loop (%, CPU time)")
    ax.legend()
    page.figure("overhead", fig, "Framework overhead per family")


def overhead_split(page: Page, splits: list[tuple[str, dict[str, Any]]]) -> None:
    """Where the GAN and VAE overhead goes: Lightning's loop, the family base's step, genfw's CLI defaults."""
    page.add("### Where the overhead goes",
             "Two more runs per repeat split the compute-matched overhead. *Lightning's loop*: the plain loop's "
             "update written as a minimal `LightningModule` (manual optimisation for the GAN, automatic for the VAE) "
             "under a bare `pl.Trainer` with no logger, callbacks, checkpoints or progress bar. *Family base*: the "
             "plugin's own module (its family base's training step: EMA, loss bookkeeping, collapse indicators) "
             "under the same bare Trainer. *genfw defaults*: what `genfw fit` adds on top (logger, checkpointing, "
             "sample logging, training-health checks, pre-emption handling, progress bar). Each column is a share "
             "of the plain loop's step, with the time per step it amounts to; the three add up to the total. "
             "*genfw's share* is `genfw fit` over the minimal module, (1 + r<sub>genfw</sub>) / "
             f"(1 + r<sub>minimal</sub>) − 1: the framework's own cost. Target: at most {TARGET_GENFW_SHARE_PERCENT:g}%. "
             "With many short rounds every column is the median over rounds of that round's own value (the four "
             "runs of a round are seconds apart, so drift cancels within it; medians need not add up exactly). "
             "*Per repeat* gives the range of the share of each alternating repeat on its own (the quartiles when "
             "there are many short rounds, with a 90% bootstrap interval of the median): the spread is the resolution of "
             "the end-to-end measurement on a shared machine, wider than a change of tens of microseconds per step.")
    rows = []
    for plugin, m in splits:
        plain_step = m["plain_compute_ms"] + m["plain_other_ms"]
        cells = [f"{signed(m.get('paired_' + key, m[key]), 2)}% ({num(m.get('paired_' + key, m[key]) * plain_step / 100, 2)} ms)"
                 for key in ("lightning_loop_points", "family_base_points", "genfw_defaults_points")]
        share = m.get("paired_genfw_share_percent",
                      100 * ((1 + m["genfw_other_over_compute"]) / (1 + m["minimal_other_over_compute"]) - 1))
        met = share <= TARGET_GENFW_SHARE_PERCENT
        rows.append([plugin, f"{num(plain_step)} ms", *cells, f"{signed(m['overhead_percent'])}%",
                     f"{signed(share, 2)}%", share_per_repeat(m), verdict(met)])
        page.headline("framework step cost", f"{plugin}: genfw over a minimal LightningModule",
                      f"{signed(share, 2)}% CPU time", f"≤ {TARGET_GENFW_SHARE_PERCENT:g}%", met)
    page.table(["plugin", "plain step", "Lightning's loop", "family base", "genfw defaults", "total", "genfw's share",
                "per repeat", f"≤ {TARGET_GENFW_SHARE_PERCENT:g}%"], rows)


def _ratios(m: dict[str, Any], path: str) -> list[float] | None:
    """A path's other/compute ratio of each repeat, from the stored ratios or the per-repeat times."""
    if m.get(f"{path}_other_over_compute_each"):
        return list(m[f"{path}_other_over_compute_each"])
    other, compute = m.get(f"{path}_other_each_repeat"), m.get(f"{path}_compute_each_repeat")
    return [o / c for o, c in zip(other, compute)] if other and compute else None


def share_per_repeat(m: dict[str, Any]) -> str:
    """The lowest and highest genfw share over the minimal module among the repeats (paired by repeat)."""
    genfw, minimal = _ratios(m, "genfw"), _ratios(m, "minimal")
    if not genfw or not minimal:
        return "—"
    shares = [100 * ((1 + g) / (1 + n) - 1) for g, n in zip(genfw, minimal)]
    if len(shares) >= 8:
        # Many short interleaved rounds: the interquartile range is the resolution, min/max are single outliers.
        low, _, high = statistics.quantiles(shares, n=4)
        interval = m.get("paired_genfw_share_ci90")
        median = f"; median {signed(interval[0], 2)} to {signed(interval[1], 2)}% (90% bootstrap)" if interval else ""
        return f"{signed(low, 2)} to {signed(high, 2)}% (quartiles of {len(shares)} rounds{median})"
    return f"{signed(min(shares), 2)} to {signed(max(shares), 2)}%"


def dcgan_vae_quality(page: Page, data: dict[str, Any] | None) -> None:
    page.add("## DCGAN and VAE: quality per CPU minute",
             "`genfw fit --config configs/<plugin>/mnist.yaml` stopped after each budget of process CPU time "
             "(`benchmarks/dcgan_vae.py`). DCGAN: the share of 500 samples a small CNN trained on the real digits "
             "reads with softmax ≥ 0.9, and the classes among them. VAE: IWAE bound (k = 64) on 500 held-out "
             "digits, nats per image (lower is better).")
    results = (data or {}).get("results", {})
    dcgan, vae = results.get("dcgan_quality"), results.get("vae_quality")
    if not dcgan and not vae:
        page.add(missing("dcgan_vae"))
        return
    if dcgan:
        ceiling = results.get("digit_classifier", {}).get("real_digits_confident_fraction")
        page.table(["CPU time", "steps", "read with softmax ≥ 0.9", "classes covered"],
                   [[minutes(r["cpu_seconds"]), num(r["steps"], 0), f"{num(100 * r['confident_fraction'])}%",
                     r["classes_covered"]] for r in dcgan])
        if ceiling is not None:
            page.add(f"Real held-out digits: {num(100 * ceiling)}% read with softmax ≥ 0.9.")
        last = dcgan[-1]
        page.headline("DCGAN quality", f"confident digits after {minutes(last['cpu_seconds'])} CPU",
                      f"{num(100 * last['confident_fraction'])}%, {last['classes_covered']} classes")
    if vae:
        page.table(["CPU time", "steps", "IWAE NLL (nats)"],
                   [[minutes(r["cpu_seconds"]), num(r["steps"], 0), num(r["iwae_nll_nats"])] for r in vae])
        last = vae[-1]
        page.headline("VAE quality", f"IWAE NLL after {minutes(last['cpu_seconds'])} CPU",
                      f"{num(last['iwae_nll_nats'])} nats")
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, records, key, label in ((axes[0], dcgan, "confident_fraction", "DCGAN: share read confidently"),
                                    (axes[1], vae, "iwae_nll_nats", "VAE: IWAE NLL (nats)")):
        if records:
            ax.plot([r["cpu_seconds"] / 60 for r in records], [r[key] for r in records], "o-", color=COLORS["genfw"])
        ax.set_xlabel("CPU minutes of training")
        ax.set_title(label, fontsize=10)
    if vae:
        axes[1].set_yscale("log")
    page.figure("dcgan_vae_quality", fig, "Quality per CPU minute, DCGAN and VAE on MNIST")


def gpt_mini(page: Page, data: dict[str, Any] | None) -> None:
    page.add("## GPT-mini: quality and KV cache",
             "`benchmarks/gpt_mini.py`: validation loss of the pydocs character model after a fixed number of steps, "
             "and generation of 512 new tokens (batch 12, block 256) with the KV cache against recomputing the "
             "context for every token, with the same seed.")
    results = (data or {}).get("results", {})
    quality = sorted((v for k, v in results.items() if k.startswith("quality_")), key=lambda v: v["steps"])
    if quality:
        page.table(["steps", "validation loss (nats/char)", "bits/char", "target", "met"],
                   [[num(q["steps"], 0), num(q["val_loss_nats_per_char"], 3), num(q["val_bits_per_char"], 2),
                     f"≤ {q['target']}" if q.get("target") else "—", verdict(q.get("meets_target"))]
                    for q in quality])
        for q in quality:
            if q.get("target"):
                page.headline("GPT-mini quality", f"validation loss after {num(q['steps'], 0)} steps",
                              f"{num(q['val_loss_nats_per_char'], 3)} nats/char", f"≤ {q['target']}",
                              q.get("meets_target"))
    kv = [(k, v) for k, v in results.items() if k.startswith("kv_cache")]
    if kv:
        page.table(["threads", "cached", "recomputed", "speed-up", "speed-up, CPU time", "identical tokens", "target",
                    "met"],
                   [[v.get("threads", "?"), f"{num(v['cached_tokens_per_s'], 0)} tokens/s",
                     f"{num(v['recomputed_tokens_per_s'], 0)} tokens/s", f"{num(v['speedup'])}×",
                     f"{num(v['speedup_cpu'])}×" if "speedup_cpu" in v else "—",
                     "yes" if v.get("identical_tokens") else "no", v.get("target", "—"),
                     verdict(v.get("meets_target"))] for _, v in kv])
        for _, v in kv:
            page.headline("KV cache", f"speed-up, {v.get('new_tokens', '?')} tokens, {threads_label(v.get('threads'))}",
                          f"{num(v['speedup'])}×", "≥ 8×, identical tokens", v.get("meets_target"))
        fig, ax = plt.subplots(figsize=(6, 3.2))
        labels = [threads_label(v.get("threads")) for _, v in kv]
        x = range(len(kv))
        ax.bar([i - 0.2 for i in x], [v["cached_tokens_per_s"] for _, v in kv], 0.4, label="KV cache",
               color=COLORS["genfw"])
        ax.bar([i + 0.2 for i in x], [v["recomputed_tokens_per_s"] for _, v in kv], 0.4, label="recompute",
               color=COLORS["plain"])
        for i, (_, v) in enumerate(kv):
            ax.annotate(f"{v['speedup']:.1f}×", (i - 0.2, v["cached_tokens_per_s"]), ha="center", va="bottom")
        ax.set_xticks(list(x), labels)
        ax.set_ylabel("generated tokens / s")
        ax.legend()
        page.figure("gpt_mini_kv_cache", fig, "GPT-mini generation with the KV cache and recomputing")
    peer = results.get("peer_nanogpt") or {}
    peer_rows = [(k.split("_")[0], v) for k, v in peer.items() if k.endswith("_thread") and isinstance(v, dict)]
    if peer_rows:
        page.add("**Against karpathy/nanoGPT's `train.py`** (same corpus files, recipe and shapes; fresh processes, "
                 f"alternating; {peer.get('steps_timed')} steps timed after {peer.get('warmup_steps')}; "
                 "tokens per CPU-second of the process, wall clock beside it"
                 + (f"; genfw at the config's `${{fast_precision:}}`, here `{peer['genfw_precision']}`, nanoGPT in "
                    f"{peer.get('nanogpt_precision', 'float32')}: its `train.py` opens autocast on CUDA only"
                    if peer.get("genfw_precision") else "") + "):")
        page.table(["threads", "genfw tokens/s (CPU)", "nanoGPT tokens/s (CPU)", "genfw / nanoGPT, CPU (median, range)",
                    "same, wall", "target", "met"],
                   [[t, ", ".join(num(x, 0) for x in v["cpu"]["genfw_tokens_per_s"]),
                     ", ".join(num(x, 0) for x in v["cpu"]["nanogpt_tokens_per_s"]),
                     f"{num(v['cpu']['genfw_over_nanogpt_median'], 3)} ({num(v['cpu']['spread'][0], 3)}–"
                     f"{num(v['cpu']['spread'][1], 3)})", num(v["wall"]["genfw_over_nanogpt_median"], 3), "≥ 1.05",
                     verdict(v.get("meets_target"))] for t, v in peer_rows])
        for t, v in peer_rows:
            page.headline("GPT-mini against nanoGPT", f"tokens/s ratio, {threads_label(int(t))}",
                          f"{num(v['cpu']['genfw_over_nanogpt_median'], 3)}×", "≥ 1.05×", v.get("meets_target"))
        fig, ax = plt.subplots(figsize=(6, 3.2))
        x = range(len(peer_rows))
        for offset, key, label, color in ((-0.2, "genfw_tokens_per_s", "genfw fit", COLORS["genfw"]),
                                          (0.2, "nanogpt_tokens_per_s", "nanoGPT train.py", COLORS["plain"])):
            ax.bar([i + offset for i in x], [statistics.median(v["cpu"][key]) for _, v in peer_rows], 0.4,
                   label=label, color=color)
        ax.set_xticks(list(x), [threads_label(int(t)) for t, _ in peer_rows])
        ax.set_ylabel("tokens per CPU-second (median)")
        ax.legend()
        page.figure("gpt_mini_vs_nanogpt", fig, "GPT-mini under genfw fit against nanoGPT's train.py")
    if not quality and not kv:
        page.add(missing("gpt_mini"))


def wavenet(page: Page, data: dict[str, Any] | None) -> None:
    page.add("## WaveNet-lite: fast generation",
             "`benchmarks/wavenet_lite.py`: CPU time per generated sample with the queue cache against "
             "recomputing the receptive field for every sample; real-time factor (RTF) = compute seconds per "
             "second of 16 kHz audio (< 1 is faster than real time). Target: ≥ 50× at a receptive field of at "
             "least 1,024 samples.")
    results = (data or {}).get("results", {})
    speed = results.get("speed") or {}
    if not speed:
        page.add(missing("wavenet_lite"))
        return
    rows = []
    for name, s in speed.items():
        met = s["speedup_cpu"] >= 50 if s["receptive_field_samples"] >= 1024 else None
        rows.append([name, f"{num(s['receptive_field_samples'], 0)} ({s['receptive_field_ms']} ms)",
                     f"{num(s['cached_us_per_sample_cpu'])} µs", f"{num(s['recompute_us_per_sample_cpu'])} µs",
                     f"{num(s['speedup_cpu'])}×", num(s["rtf_batch1_cpu"], 2),
                     (f"{num(s['scripted_loop_us_per_sample_cpu'])} µs (RTF {num(s['scripted_loop_rtf_batch1_cpu'], 2)})"
                      if "scripted_loop_us_per_sample_cpu" in s else "—"),
                     num(s.get("rtf_amortized_batch16_cpu"), 2),
                     "yes" if s.get("cached_equals_recompute_tokens") else "no", verdict(met)])
        page.headline("WaveNet fast generation", f"speed-up, {name}", f"{num(s['speedup_cpu'])}×", "≥ 50×", met)
    page.table(["model", "receptive field", "cached / sample", "recompute / sample", "speed-up", "RTF batch 1",
                "scripted loop / sample", "RTF per stream, batch 16", "same samples", "≥ 50×"], rows)
    limit = results.get("real_time_limit")
    if limit:
        page.add(f"**Real time at batch 1** ({limit['config']}, one thread; real time at 16 kHz is "
                 f"{limit['real_time_us_per_sample']} µs per sample): the arithmetic limit is "
                 f"{num(limit['flops_per_sample'], 0)} FLOP per sample at {num(limit['matmul_gflops'], 0)} GFLOP/s = "
                 f"{limit['arithmetic_limit_us_per_sample']} µs (RTF {limit['arithmetic_limit_rtf']}); the family's cached `generate` runs "
                 f"{limit['ops_per_sample']} tensor operations per sample (network and sampling), each at least "
                 f"{limit['cheapest_op_us']} µs, a floor of {limit['dispatch_floor_us_per_sample']} µs (RTF "
                 f"{limit['dispatch_floor_rtf']}); measured {limit['measured_us_per_sample']} µs (RTF "
                 f"{limit['measured_rtf']})"
                 + (f" with the scripted loop that `sample()` runs (`fast_generate`: "
                    f"{limit['loop_ops_per_sample']} operations per sample, floor "
                    f"{limit['loop_dispatch_floor_us_per_sample']} µs)." if "loop_ops_per_sample" in limit else "."))
        page.headline("WaveNet real time", "RTF at batch 1, one thread, melodies config",
                      num(limit["measured_rtf"], 2), "< 1", limit["measured_rtf"] < 1)
    learning = results.get("learning")
    if learning:
        notes = learning.get("generated", {})
        page.table(["config", "training", "validation bits/sample", "note energy of samples (T = 0.9)",
                    "melodies / white noise"],
                   [[f"`{learning.get('config', '?')}`",
                     f"{num(learning['steps'], 0)} steps in {num(learning['train_wall_s'], 0)} s",
                     f"{num(learning['val_bits_per_sample'], 2)} (uniform: 8)",
                     ", ".join(num(v, 2) for v in notes.get("0.9", {}).get("note_energy", [])) or "—",
                     (f"{num(learning.get('note_energy_of_data'), 2)} / "
                      f"{num(learning.get('note_energy_of_white_noise'), 2)}")]])
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    names = list(speed)
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [speed[n]["cached_us_per_sample_cpu"] for n in names], 0.4, label="queue cache",
           color=COLORS["genfw"])
    ax.bar([i + 0.2 for i in x], [speed[n]["recompute_us_per_sample_cpu"] for n in names], 0.4,
           label="recompute", color=COLORS["plain"])
    for i, n in enumerate(names):
        ax.annotate(f"{speed[n]['speedup_cpu']:.0f}×", (i - 0.2, speed[n]["cached_us_per_sample_cpu"]),
                    ha="center", va="bottom")
    ax.set_xticks(list(x), [n.split(" (")[0] for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("CPU µs per generated sample")
    ax.legend()
    page.figure("wavenet_fast_generation", fig, "WaveNet-lite generation with the queue cache and recomputing")


def ddp(page: Page, data: dict[str, Any] | None) -> None:
    page.add("## DDP scaling",
             "`benchmarks/ddp_scaling.py`: distinct samples per second summed over processes (a GAN's fakes told "
             "apart by their latent rows, a language model's training sequences; a sample drawn on both ranks "
             "counts once), 2 DDP processes × 1 thread (gloo) against 1 process × 1 thread. The two set-ups "
             "alternate within each repeat and medians are reported, with the load average of the machine during "
             "the runs. Goal: ≥ 1.8×. What bounds the ratio is measured in the same runs: the median time of a gloo "
             "all-reduce of all gradients (the communication a step adds), the speed-up communication alone would "
             "allow (2·t₁ / (t₁ + t_comm)), and the speed-up per CPU-second (2 × CPU time per step of 1 process / "
             "that of each of 2), which is what 2 idle cores would give; the GPU column applies the same arithmetic "
             "with a nominal NVLink 4 bandwidth of 450 GB/s to a 10 ms step.")
    results = (data or {}).get("results", {})
    if not results:
        page.add(missing("ddp_scaling"))
        return
    rows = []
    for plugin, r in results.items():
        goal = r.get("goal", 1.8)
        one = r.get("distinct_items_per_second_1x1", r.get("items_per_second_1x1"))
        two = r.get("distinct_items_per_second_2x1", r.get("items_per_second_2x1"))
        comm = r.get("allreduce_seconds")
        gpu = (r.get("gpu_estimate") or {}).get("NVLink 4 (H100/H200 SXM)", {}).get("speedup_if_step_10ms")
        rows.append([plugin, num(one), num(two), f"{num(r['speedup'], 2)}×", f"≥ {goal}×", verdict(r["speedup"] >= goal),
                     num(r.get("load_average")), "—" if comm is None else f"{num(1000 * comm, 2)} ms",
                     f"{num(r.get('communication_bound_speedup'), 2)}×", f"{num(r.get('cpu_time_speedup'), 2)}×",
                     f"{num(gpu, 2)}×"])
        page.headline("DDP scaling", f"{plugin}, 2 processes", f"{num(r['speedup'], 2)}×", f"≥ {goal}×",
                      r["speedup"] >= goal)
    page.table(["plugin", "1 process (distinct/s)", "2 processes (distinct/s)", "speed-up", "goal", "met",
                "load average", "all-reduce", "communication allows", "per CPU-second", "GPU estimate"], rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = list(results)
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [r["speedup"] for r in results.values()], width=0.4, color=COLORS["genfw"],
           label="measured (wall clock)")
    ax.bar([i + 0.2 for i in x], [r.get("cpu_time_speedup") or 0.0 for r in results.values()], width=0.4,
           color=COLORS["plain"], label="per CPU-second")
    ax.set_xticks(list(x), names)
    ax.axhline(next(iter(results.values())).get("goal", 1.8), color=COLORS["target"], linestyle="--", label="goal")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_ylabel("speed-up, 2 processes over 1")
    ax.set_ylim(0, 2.2)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    page.figure("ddp_scaling", fig, "DDP scaling with 2 CPU processes")


def stylegan(page: Page, data: dict[str, Any] | None) -> None:
    page.add("## StyleGAN-lite against DCGAN at equal CPU time",
             "`benchmarks/stylegan_lite.py`: `configs/stylegan_lite/mnist.yaml` and `configs/dcgan/mnist.yaml` at "
             "32 px, both measured after each budget of process CPU time, one run per seed. FD-digits: Fréchet "
             "distance of a small digit CNN's features, 500 samples against 500 held-out digits (lower is better).")
    results = (data or {}).get("results", {})
    style, dcgan = results.get("stylegan_lite_quality"), results.get("dcgan_quality")
    if not style or not dcgan:
        page.add(missing("stylegan_lite"))
        return
    metric = results.get("metric", {})
    rows = [[minutes(s["cpu_seconds"]), num(s["fd_digits"]), num(d["fd_digits"]), num(s["pixel_fd"], 2),
             num(d["pixel_fd"], 2), f"{num(s['classes_covered'], 0)} / {num(d['classes_covered'], 0)}"]
            for s, d in zip(style["median_over_seeds"], dcgan["median_over_seeds"], strict=False)]
    page.table(["CPU time", "StyleGAN-lite FD-digits", "DCGAN FD-digits", "StyleGAN-lite pixel FD", "DCGAN pixel FD",
                "classes read confidently (StyleGAN / DCGAN)"], rows)
    floor = metric.get("real_vs_real_floor", {}).get("fd_digits")
    seeds = len(style.get("runs", {}))
    page.add(f"Medians over {seeds} seed{'s' if seeds != 1 else ''}. Floor (real digits against real digits): "
             f"FD-digits {num(floor)}; uniform noise: {num(metric.get('uniform_noise', {}).get('fd_digits'))}.")
    last_s, last_d = style["median_over_seeds"][-1], dcgan["median_over_seeds"][-1]
    page.headline("StyleGAN-lite vs DCGAN", f"FD-digits after {minutes(last_s['cpu_seconds'])} CPU",
                  f"{num(last_s['fd_digits'])} against {num(last_d['fd_digits'])}")
    speed = results.get("speed_batch32")
    if speed:
        page.table(["config", "grouped modulation (ms/step)", "activation scaling (ms/step)"],
                   [[config, num(speed.get(f"{config}_fused_ms_per_step")),
                     num(speed.get(f"{config}_unfused_ms_per_step"))] for config in ("mnist", "photos")])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for label, entry, color in (("StyleGAN-lite", style, COLORS["genfw"]), ("DCGAN", dcgan, COLORS["second"])):
        for records in entry.get("runs", {}).values():
            ax.plot([r["cpu_seconds"] / 60 for r in records], [r["fd_digits"] for r in records], color=color,
                    alpha=0.3, linewidth=1)
        median = entry["median_over_seeds"]
        ax.plot([r["cpu_seconds"] / 60 for r in median], [r["fd_digits"] for r in median], "o-", color=color,
                label=f"{label} (median; thin: seeds)")
    if floor:
        ax.axhline(floor, color=COLORS["plain"], linestyle=":", label="real-data floor")
    ax.set_yscale("log")
    ax.set_xlabel("CPU minutes of training")
    ax.set_ylabel("FD-digits (lower is better)")
    ax.legend(fontsize=8)
    page.figure("stylegan_vs_dcgan", fig, "FD-digits against CPU minutes, StyleGAN-lite and DCGAN")


def compile_precision(page: Page, data: dict[str, Any] | None) -> None:
    page.add("## Compile and precision",
             "`benchmarks/compile_precision.py`: a GPT-mini training step (0.8M parameters, batch 12 × 64 tokens) "
             "under a Trainer in eager fp32, with the plugin's `compile: true` (`torch.compile`), and with "
             "`precision: bf16-mixed`; median CPU time per step after warm-up steps, median over runs. No target "
             "was set: the question is whether either option pays on a CPU.")
    results = (data or {}).get("results", {})
    settings = {name: r for name, r in results.items() if isinstance(r, dict) and "cpu_ms_per_step" in r}
    if not settings:
        page.add(missing("compile_precision"))
        return
    rows = []
    for name, r in settings.items():
        compile_s = r.get("compile_s_cold")
        rows.append([name, r.get("precision", "—"), num(r["cpu_ms_per_step"]), num(r.get("wall_ms_per_step")),
                     f"{num(r['speed_vs_eager_cpu'], 2)}×", f"{num(compile_s)} s" if compile_s is not None else "—"])
        if name != "eager":
            page.headline("compile and precision", f"GPT-mini training step, {name} against eager fp32",
                          f"{num(r['speed_vs_eager_cpu'], 2)}× the speed")
    page.table(["setting", "precision", "CPU ms/step", "wall ms/step", "speed against eager",
                "first step (cold compile)"], rows)
    gflops = results.get("matmul_gflops")
    if gflops:
        flags = ", ".join(f"`{f}`" for f in results.get("cpu_flags") or []) or "none found"
        page.add(f"On this CPU a (768 × 128) · (128 × 512) matmul ran at {num(gflops.get('fp32'))} GFLOP/s in fp32 "
                 f"and {num(gflops.get('bf16'))} GFLOP/s in bf16 (CPU flags: {flags}). Without bf16 instructions "
                 "a bf16 matmul can be tens of times slower than fp32, and `bf16-mixed` then slows training down.")
    fig, ax = plt.subplots(figsize=(5.4, 3.2))
    ax.bar(list(settings), [r["cpu_ms_per_step"] for r in settings.values()], color=COLORS["genfw"])
    ax.set_ylabel("CPU ms per training step")
    page.figure("compile_precision", fig, "GPT-mini training step: eager, compiled, bf16-mixed")


def callback_cost(page: Page, data: dict[str, Any] | None) -> None:
    page.add("## Per-step cost of each callback",
             "`benchmarks/callback_cost.py`: each default config trained by `genfw fit` in one process; every "
             "per-batch hook Lightning calls on a callback is timed on the main thread's CPU clock (the timer's own "
             "cost subtracted). Hooks a callback inherits as no-ops are taken out of Lightning's dispatch and cost "
             "nothing; a callback with nothing to do on a step returns at once. Target: genfw's own share of a step "
             "≤ 1%.")
    results = (data or {}).get("results", {})
    if not results:
        page.add(missing("callback_cost"))
        return
    rows = []
    for plugin, entry in results.items():
        for cb in entry.get("callbacks", []):
            hooks = ", ".join(h.removeprefix("on_") for h in cb.get("hooks_run", [])) or "none (skipped)"
            rows.append([plugin, cb["callback"], hooks, num(cb.get("us_per_step"), 1),
                         f"{num(cb.get('share_of_step_percent'), 3)}%"])
        share = entry.get("all_callbacks_share_percent")
        rows.append([plugin, "**all callbacks**", f"step {num(entry.get('step_cpu_ms'), 1)} ms CPU",
                     num(entry.get("all_callbacks_us_per_step"), 1), f"{num(share, 3)}%"])
        page.headline("framework step cost", f"{plugin}: all callbacks' hooks per step",
                      f"{num(share, 2)}% of the step", "≤ 1%", None if share is None else share <= 1.0)
    page.table(["plugin", "callback", "hooks that ran", "µs CPU per step", "share of the step"], rows)
    fig, ax = plt.subplots(figsize=(7, 3))
    names = list(results)
    ax.bar(names, [results[n].get("all_callbacks_share_percent") or 0.0 for n in names], color=COLORS["genfw"])
    ax.axhline(1.0, color=COLORS["target"], linestyle="--", label="target (1%)")
    ax.set_ylabel("% of the step's CPU time")
    ax.legend()
    page.figure("callback_cost", fig, "Per-step cost of the default callbacks")


def missing(*names: str) -> str:
    runs = " and ".join(f"`python benchmarks/run.py --only {n}`" for n in names)
    return f"No results recorded yet: {runs}."


# ------------------------------------------------------------------ the page

#: The start-up targets in seconds of CPU time (``benchmarks/startup.py`` records them beside its results).
STARTUP_TARGETS_S = {"help": 1.5, "plugins": 1.5, "plugins_cold": 1.5, "fit": 5.0}
#: How the probe's stages read in the table of ``fit``'s phases.
STARTUP_PHASES = {
    "floor": "import torch, Lightning", "built": "genfw's imports and parsing", "setup": "Trainer set-up", "sanity_check_start": "to the sanity check",
    "sanity_check_end": "sanity check", "train_start": "to training", "first_batch": "to the first batch",
}


def startup(page: Page, data: dict[str, Any] | None) -> None:
    page.add("## Start-up time",
             "`benchmarks/startup.py`: how long `genfw` takes before it does something, each command a fresh "
             "process (as a user runs it) in a temporary folder with its own plugin cache, repeated in alternating "
             "order; medians of wall time and of CPU time (user + system of the process, which a busy machine "
             "inflates far less than wall time). `fit` is timed up to its first training batch. "
             "`import torch, pytorch_lightning` is the floor every `fit` pays: `pytorch_lightning/__init__` imports "
             "Lightning Fabric, which imports torchmetrics, `torch._dynamo` (with sympy), and scipy and matplotlib "
             "where they are installed; importing only a submodule of Lightning runs that `__init__` too. "
             "Targets, judged on CPU time: `genfw --help` and `genfw plugins` ≤ 1.5 s, `genfw fit` to its first "
             "step ≤ 5 s.")
    results = (data or {}).get("results", {})
    if not results:
        page.add(missing("startup"))
        return
    targets = STARTUP_TARGETS_S  # today's targets, also for a file measured under earlier ones
    floor = (results.get("import_floor") or {}).get("median_cpu_s")
    rows_spec: list[tuple[str, dict[str, Any], str, str, str | None]] = [
        ("`genfw --help`", results.get("help") or {}, "wall_s", "cpu_s", "help"),
        ("`genfw plugins` (validation cached)", results.get("plugins") or {}, "wall_s", "cpu_s", "plugins"),
        ("`genfw plugins` (empty cache: imports and validates every plugin)", results.get("plugins_cold") or {}, "wall_s",
         "cpu_s", "plugins_cold"),
        ("`import torch`", results.get("import_torch") or {}, "wall_s", "cpu_s", None),
        ("`import torch, pytorch_lightning` (floor of `fit`; a process of its own, exit included)",
         results.get("import_floor") or {}, "wall_s", "cpu_s", None),
    ]
    fits = results.get("fit") or {}
    for config, entry in fits.items():
        rows_spec.append((f"`genfw fit --config configs/{config}.yaml` to its first step", entry,
                          "first_step_wall_s", "first_step_cpu_s", "fit"))
    rows = []
    for label, entry, wall, cpu, target_key in rows_spec:
        if not entry:
            continue
        cpu_s = entry.get(f"median_{cpu}")
        target = targets.get(target_key) if target_key else None
        met = None if target is None or cpu_s is None else cpu_s <= target
        over = entry.get("median_over_floor_in_run_cpu_s")  # split within each run where it was measured
        if over is None and target_key in ("fit", "plugins_cold") and cpu_s is not None and floor:
            over = cpu_s - floor
        rows.append([label, num(entry.get(f"median_{wall}"), 2), num(cpu_s, 2), signed(over, 2),
                     "—" if target is None else f"≤ {target:g} s", verdict(met)])
        if target is not None:
            page.headline("Start-up", label, f"{num(cpu_s, 2)} s CPU", f"≤ {target:g} s", met)
    page.table(["command", "wall (s)", "CPU (s)", "CPU over the floor (s)", "target", "met"], rows)
    page.add("CPU over the floor: for `fit`, the median over runs of (first step − the floor's share of that same "
             "run); otherwise against the separate `import torch, pytorch_lightning` runs.")
    in_run = [e["median_floor_in_run_cpu_s"] for e in fits.values() if e.get("median_floor_in_run_cpu_s") is not None]
    if in_run:
        page.add(f"Within the `fit` runs the floor took {min(in_run):.2f}–{max(in_run):.2f} CPU-s (median per config); "
                 "its own process costs more because Python's clean-up at exit, after importing torch and Lightning, "
                 "is counted there (`fit` pays that only when it ends).")
    floor_in_fit = max(in_run) if in_run else floor
    if floor_in_fit is not None and floor_in_fit > targets["fit"]:
        page.add(f"The floor alone, {floor_in_fit:.2f} CPU-s, is above the `fit` target: no change inside genfw "
                 "reaches it.")
    optional = results.get("floor_optional_imports") or {}
    if optional.get("modules") and floor_in_fit is not None:
        page.add(f"Of the floor, {optional['median_cpu_s']:.2f} CPU-s are "
                 f"{' and '.join(f'`{m}`' for m in optional['modules'])}, which torchmetrics imports only where they "
                 "are installed (here by gen-framework's `photos`, `audio` and `bench` extras, not by its "
                 f"dependencies): without them the floor is about {floor_in_fit - optional['median_cpu_s']:.2f} CPU-s.")
    baseline = results.get("fit_baseline") or {}
    if baseline:
        page.add("Before and after: an earlier gen_framework package (`--baseline DIR`) run in the same alternating "
                 "rounds; CPU seconds of `fit` to its first step.")
        rows = []
        for config, before in baseline.items():
            after = fits.get(config) or {}
            b, a = before.get("median_first_step_cpu_s"), after.get("median_first_step_cpu_s")
            rows.append([f"`{config}`", num(b, 2), num(a, 2), signed(None if a is None or b is None else a - b, 2),
                         num(before.get("median_over_floor_in_run_cpu_s"), 2),
                         num(after.get("median_over_floor_in_run_cpu_s"), 2)])
        page.table(["config", "before (s)", "after (s)", "change (s)", "before, over the floor (s)",
                    "after, over the floor (s)"], rows)
    phases = {config: entry.get("median_phase_cpu_s") or {} for config, entry in fits.items()}
    if any(phases.values()):
        page.add("Where `fit`'s CPU seconds go before its first step (medians of each phase; the floor measured "
                 "within the same run, so that the rest is what genfw and Lightning's set-up add to it):")
        page.table(["config", *STARTUP_PHASES.values()],
                   [[f"`{config}`", *(num(p.get(stage), 2) for stage in STARTUP_PHASES)]
                    for config, p in phases.items()])
    imports = results.get("importtime_ms") or {}
    if imports:
        top = list(imports.items())[:12]
        page.add("Import time of `fit` (DCGAN) by package, the sum of its modules' own times as "
                 "`python -X importtime` reports them (inflated by the measuring; read the shares): "
                 + ", ".join(f"`{k}` {v:,.0f} ms" for k, v in top) + ".")
    if fits and floor is not None:
        fig, ax = plt.subplots(figsize=(7, 3.4))
        names = list(fits)
        firsts = [fits[n].get("median_first_step_cpu_s") or 0.0 for n in names]
        floors = [fits[n].get("median_floor_in_run_cpu_s") or min(floor, f) for n, f in zip(names, firsts)]
        overs = [fits[n].get("median_over_floor_in_run_cpu_s") or max(0.0, f - floor) for n, f in zip(names, firsts)]
        ax.barh(names, floors, color=COLORS["plain"], label="import torch + Lightning")
        ax.barh(names, overs, left=floors, color=COLORS["genfw"], label="genfw and Lightning's set-up")
        ax.axvline(targets["fit"], color=COLORS["target"], linestyle="--", label=f"target ({targets['fit']:g} s)")
        ax.set_xlabel("CPU seconds to the first training step")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize=8)
        page.figure("startup", fig, "CPU seconds of genfw fit to its first step, against the import floor")


SECTIONS: list[tuple[Callable[[Page, Any], None], str | None]] = [
    (overhead, None),  # reads two files
    (dcgan_vae_quality, "dcgan_vae"),
    (gpt_mini, "gpt_mini"),
    (wavenet, "wavenet_lite"),
    (ddp, "ddp_scaling"),
    (stylegan, "stylegan_lite"),
    (compile_precision, "compile_precision"),
    (callback_cost, "callback_cost"),
    (startup, "startup"),
]
RESULT_FILES = (
    "dcgan_vae", "gpt_mini", "wavenet_lite", "ddp_scaling", "stylegan_lite", "compile_precision", "callback_cost",
    "startup", "dcgan_vae_overhead",
)


def load_results(results_dir: Path) -> dict[str, dict[str, Any]]:
    """The benchmark JSON files present in ``results_dir``, by name."""
    return {name: json.loads((results_dir / f"{name}.json").read_text(encoding="utf-8"))
            for name in RESULT_FILES if (results_dir / f"{name}.json").is_file()}


def render(results_dir: Path, docs_dir: Path) -> Path:
    """Write ``docs_dir/benchmarks.md`` and its plots from ``results_dir``; returns the page's path."""
    results = load_results(results_dir)
    page = Page(docs_dir)
    for section, name in SECTIONS:
        section(page, results if name is None else results.get(name))
    for name, data in results.items():
        page.machines.append(machine_row(name, data))

    head = [
        "# Benchmarks",
        "",
        ("Generated by `python benchmarks/run.py` from the JSON files in `benchmarks/results/` "
         "(`python benchmarks/run.py --render-only` redraws it without measuring); change the benchmark scripts, "
         "not this page. Each script's docstring says exactly what it measures. The machine table at the end says "
         "which CPU each file was measured on and how busy it was: on a shared machine wall times are noisy, and "
         "the CPU-time figures are the steadier ones."),
        "",
        "## Summary",
        "",
        "| benchmark | measure | measured | target | met |",
        "|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in page.headlines),
        "",
    ]
    tail = [
        "## Machines",
        "",
        "| results file | CPU | cores | threads | torch | load average (1 min) |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in page.machines),
    ]
    path = docs_dir / "benchmarks.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(head + page.lines + tail) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    print(f"wrote {render(args.results, args.docs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measured numbers quoted in the READMEs and docs, rendered from ``benchmarks/results/*.json``.

A markdown file quotes a measured table through a block whose body is generated, never typed::

    <!-- results:vae_quality -->
    | CPU time | steps | IWAE NLL (nats) |
    ...
    <!-- /results:vae_quality -->

``python benchmarks/blocks.py`` rewrites the body of every block in :data:`FILES` from the JSON files (run it
after a benchmark, with ``benchmarks/report.py`` for the benchmarks page); ``--check`` changes nothing and exits
1 naming each block whose text differs from its rendering. ``tests/test_results_blocks.py`` runs the check, so
a number edited by hand, or a result re-measured without re-rendering, fails the test suite.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Where blocks may appear (globs relative to the repository root). docs/benchmarks.md is rendered whole.
FILES = ("README.md", "plugins/*/README.md", "docs/*.md", "docs/plugins/*.md")
BLOCK = re.compile(r"<!-- results:(?P<name>[a-z0-9_]+) -->\n(?P<body>.*?)<!-- /results:(?P=name) -->", re.S)

Results = dict[str, dict[str, Any]]


def _num(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _minutes(seconds: float) -> str:
    return "0" if seconds == 0 else f"{seconds / 60:g} min"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def line(cells: list[Any]) -> str:
        return "|" + "|".join(f" {cell} " if str(cell) else " " for cell in cells) + "|"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]) + "\n"


def _dcgan_vae(results: Results) -> dict[str, Any]:
    return results["dcgan_vae"]["results"]


def overhead(plugin: str) -> Callable[[Results], str]:
    """The per-step overhead table of ``dcgan`` or ``vae`` (``benchmarks/dcgan_vae.py``)."""

    def render(results: Results) -> str:
        entry = _dcgan_vae(results)[f"{plugin}_overhead"]
        cpu, matched = entry["cpu"], entry["compute_matched"]
        # The compute-matched overhead of each repeat: (1 + r_genfw) / (1 + r_plain) - 1, r = other / compute.
        each = [100 * ((1 + go / gc) / (1 + po / pc) - 1) for go, gc, po, pc in zip(
            matched["genfw_other_each_repeat"], matched["genfw_compute_each_repeat"],
            matched["plain_other_each_repeat"], matched["plain_compute_each_repeat"])]
        spread = f" (per repeat {min(each):.1f}–{max(each):.1f}%)" if each else ""
        rows = [
            ["CPU time per step (median of repeats)", f"{_num(cpu['genfw_ms_per_step'])} ms",
             f"{_num(cpu['plain_ms_per_step'])} ms", f"{cpu['overhead_percent']:+.1f}% (raw medians)"],
            ["compute-matched", "", "", f"**{matched['overhead_percent']:+.1f}%**{spread}"],
        ]
        return _table(["", "genfw fit", "plain loop", "overhead"], rows)

    return render


def dcgan_quality(results: Results) -> str:
    """DCGAN's confident-digit share per CPU minute on MNIST."""
    records = _dcgan_vae(results)["dcgan_quality"]
    rows = [[_minutes(r["cpu_seconds"]), _num(r["steps"], 0), f"{_num(100 * r['confident_fraction'])}%",
             r["classes_covered"], _num(r["mean_confidence"], 2)] for r in records]
    return _table(["CPU time", "steps", "samples read with softmax ≥ 0.9", "classes covered", "mean top softmax"], rows)


def _digit_cells(record: dict[str, Any]) -> str:
    """``confident / classes / rarest / FD-digits`` of one digit-judge record."""
    return (f"{_num(100 * record['confident_fraction'])}% / {record['classes_covered']} / "
            f"{_num(100 * record['min_class_share'])}% / {_num(record['fd_digits'])}")


def dcgan_recipes(results: Results, stem: str = "dcgan_recipes") -> str:
    """A DCGAN recipe screen (``benchmarks/results/<stem>.json``): the judge's verdict per CPU minute."""
    entries = {name: entry for name, entry in results[stem]["results"].items()
               if isinstance(entry, dict) and "runs" in entry}
    budgets = sorted({round(r["cpu_seconds"] / 60) for entry in entries.values() for records in entry["runs"].values()
                      for r in records if r["cpu_seconds"] > 0})
    rows = []
    for name, entry in entries.items():
        options = ", ".join(o.removeprefix("--").replace("model.init_args.", "").replace("data.init_args.", "data.")
                            for o in entry["options"]) or "(the config then)"
        for seed, records in entry["runs"].items():
            at = {round(r["cpu_seconds"] / 60): r for r in records if r["cpu_seconds"] > 0}
            rows.append([f"`{name}`", options, seed, *(_num(at[b]["steps"], 0) + ": " + _digit_cells(at[b])
                                                       if b in at else "—" for b in budgets)])
    header = ["run", "options", "seed", *(f"{b} CPU min: steps: confident / classes / rarest / FD-digits"
                                          for b in budgets)]
    return _table(header, rows)


def dcgan_main_job(stem: str) -> Callable[[Results], str]:
    """The main job on several seeds (``benchmarks/results/<stem>.json``), the last record of each seed."""

    def render(results: Results) -> str:
        quality = results[stem]["results"]["dcgan_quality"]
        quality = quality.get("quality", quality)
        rows = []
        for seed, records in quality["runs"].items():
            last = records[-1]
            rows.append([seed, _num(last["steps"], 0), f"{_num(last['cpu_seconds'] / 60, 2)} min",
                         f"{_num(100 * last['confident_fraction'])}%", last["classes_covered"],
                         f"{_num(100 * last['min_class_share'])}%", _num(last["fd_digits"])])
        return _table(["seed", "steps", "CPU time", "read with softmax ≥ 0.9", "classes", "rarest class",
                       "FD-digits"], rows)

    return render


def vae_quality(results: Results) -> str:
    """The VAE's IWAE bound per CPU minute on MNIST."""
    rows = [[_minutes(r["cpu_seconds"]), _num(r["steps"], 0), _num(r["iwae_nll_nats"])]
            for r in _dcgan_vae(results)["vae_quality"]]
    return _table(["CPU time", "steps", "IWAE NLL (nats)"], rows)


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def _percent(value: float) -> str:
    return f"{value:+.1f}%".replace("-", "−")


def gpt_mini_targets(results: Results) -> str:
    """GPT-mini's targets and what was measured against each (``benchmarks/gpt_mini.py``)."""
    r = results["gpt_mini"]["results"]
    rows = [[f"validation loss after {_num(q['steps'], 0)} steps ≤ {q['target']:g} nats/char",
             f"**{q['val_loss_nats_per_char']:.3f}** nats/char ({q['val_bits_per_char']:.2f} bits/char)",
             _yes(q["meets_target"])] for q in (r["quality_300_steps"], r["quality_2000_steps"])]
    kv, kv1 = r["kv_cache"], r["kv_cache_1_thread"]
    identical = "identical tokens" if kv["identical_tokens"] and kv1["identical_tokens"] else "tokens differ"
    rows.append([f"KV cache ≥ 8× faster than recomputing ({kv['new_tokens']} new tokens, batch {kv['batch']}, "
                 f"block {kv['block_size']}), identical tokens",
                 f"**{kv['speedup']:.1f}×** on {kv['threads']} threads, **{kv1['speedup']:.1f}×** on "
                 f"{kv1['threads']} thread; {identical}", _yes(kv["meets_target"] and kv1["meets_target"])])
    fit, fit1 = r["throughput"], r["throughput_1_thread"]
    rows.append(["`genfw fit` within 3% of a plain PyTorch loop",
                 f"**{_percent(fit['compute_matched']['overhead_percent'])}** on {fit['threads']} threads (the "
                 f"config's setting), **{_percent(fit1['compute_matched']['overhead_percent'])}** on "
                 f"{fit1['threads']} thread (compute-matched CPU time, {fit['repeats']} pairs)",
                 _yes(fit["meets_target"] and fit1["meets_target"])])
    return _table(["target", "measured", "met"], rows)


def gpt_mini_overhead(results: Results) -> str:
    """``genfw fit`` against a plain PyTorch loop on GPT-mini, per thread count and clock."""
    r = results["gpt_mini"]["results"]
    rows = []
    for entry in (r["throughput"], r["throughput_1_thread"]):
        n, matched = entry["threads"], entry["compute_matched"]
        rows.append([f"{n}, compute-matched CPU time", "", "",
                     f"**{_percent(matched['overhead_percent'])}** (other/compute "
                     f"{matched['trainer_other_over_compute']:.3f} against {matched['plain_other_over_compute']:.3f})"])
        for clock, label in (("cpu", "per CPU-second (medians)"), ("wall", "wall (medians)")):
            c = entry[clock]
            rows.append([f"{n}, {label}", f"{_num(c['trainer_tokens_per_s_median'], 0)} tokens/s",
                         f"{_num(c['plain_tokens_per_s_median'], 0)} tokens/s",
                         f"{_percent(100 * (1 / c['trainer_over_plain_median_of_pairs'] - 1))} (median of pairs)"])
    return _table(["threads, clock", "genfw fit", "plain loop", "overhead"], rows)


def gpt_mini_nanogpt(results: Results) -> str:
    """GPT-mini's ``genfw fit`` against karpathy/nanoGPT's ``train.py``, tokens per CPU-second."""
    peer = results["gpt_mini"]["results"]["peer_nanogpt"]
    rows = []
    for n in peer["threads"]:
        cpu, wall = peer[f"{n}_thread"]["cpu"], peer[f"{n}_thread"]["wall"]
        rows.append([n, ", ".join(_num(v, 0) for v in cpu["genfw_tokens_per_s"]),
                     ", ".join(_num(v, 0) for v in cpu["nanogpt_tokens_per_s"]),
                     f"**{cpu['genfw_over_nanogpt_median']:.3f}** "
                     f"({', '.join(f'{v:.3f}' for v in cpu['genfw_over_nanogpt_each'])})",
                     ", ".join(f"{v:.2f}" for v in wall["genfw_over_nanogpt_each"])])
    return _table(["threads", "genfw tokens per CPU-second", "nanoGPT tokens per CPU-second",
                   "genfw / nanoGPT, CPU (median, pairs)", "wall"], rows)


def stylegan_lite_quality(results: Results) -> str:
    """StyleGAN-lite against DCGAN per CPU minute on MNIST, FD-digits also as a multiple of the real-vs-real
    floor (the table of ``benchmarks/stylegan_lite.py --table``)."""
    r = results["stylegan_lite"]["results"]
    rows = [[f"{s['cpu_seconds'] / 60:.1f} min", f"{s['fd_digits']:.1f} ({s['fd_ratio']:.1f}×)",
             f"{d['fd_digits']:.1f} ({d['fd_ratio']:.1f}×)", f"{s['classes_covered']:.0f} / {d['classes_covered']:.0f}",
             f"{s['images_per_cpu_second']:.0f} / {d['images_per_cpu_second']:.0f}"]
            for s, d in zip(r["stylegan_lite_quality"]["median_over_seeds"], r["dcgan_quality"]["median_over_seeds"])]
    return _table(["CPU time", "StyleGAN-lite FD-digits (× floor)", "DCGAN FD-digits (× floor)",
                   "classes read confidently (StyleGAN / DCGAN)", "images per CPU second (StyleGAN / DCGAN)"], rows)


def stylegan_lite_batch_screen(results: Results) -> str:
    """StyleGAN-lite's mnist config at batch 16, 32 and 64 after the same CPU budget, per seed
    (``benchmarks/stylegan_lite.py --screen``)."""
    rows = []
    for name, entry in sorted(results["stylegan_lite_batch_screen"]["results"].items(),
                              key=lambda item: int(item[0].removeprefix("batch"))):
        options = " ".join(o.removeprefix("--").replace("model.init_args.", "").replace("data.init_args.", "")
                           for o in entry["options"]) or "(the config)"
        for seed, r in sorted(entry["runs"].items()):
            rows.append([name.removeprefix("batch"), options, seed, _num(r["steps"], 0),
                         f"{r['fd_digits']:.1f} ({r['fd_ratio']:.1f}×)", r["classes_covered"],
                         _num(r["images_per_cpu_second"], 0)])
    return _table(["batch", "options", "seed", "steps", "FD-digits (× floor)", "classes read confidently",
                   "images per CPU second"], rows)


def page_table(section: str, result: str, header: str) -> Callable[[Results], str]:
    """The table of the benchmarks page (``report.py``'s ``section`` on ``result``) whose header starts with
    ``header``, so that a README quotes exactly what the page shows."""

    def render(results: Results) -> str:
        import tempfile

        report = _report()
        with tempfile.TemporaryDirectory() as scratch:  # the section also draws its plot
            page = report.Page(Path(scratch))
            getattr(report, section)(page, results[result])
        start = next(i for i, line in enumerate(page.lines) if line.startswith("| " + header))
        end = page.lines.index("", start)
        return "\n".join(page.lines[start:end]) + "\n"

    return render


def _report() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchmarks_report", Path(__file__).with_name("report.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


#: Every block name and its renderer.
RENDERERS: dict[str, Callable[[Results], str]] = {
    "dcgan_overhead": overhead("dcgan"),
    "vae_overhead": overhead("vae"),
    "dcgan_quality": dcgan_quality,
    "vae_quality": vae_quality,
    "dcgan_recipes": dcgan_recipes,
    "dcgan_screen": lambda results: dcgan_recipes(results, "dcgan_screen"),
    "dcgan_budget": lambda results: dcgan_recipes(results, "dcgan_budget"),
    "dcgan_main_job": dcgan_main_job("dcgan_main_job"),
    "dcgan_main_job_previous": dcgan_main_job("dcgan_main_job_previous"),
    "gpt_mini_quality": page_table("gpt_mini", "gpt_mini", "steps"),
    "gpt_mini_kv_cache": page_table("gpt_mini", "gpt_mini", "threads"),
    "gpt_mini_targets": gpt_mini_targets,
    "gpt_mini_overhead": gpt_mini_overhead,
    "gpt_mini_nanogpt": gpt_mini_nanogpt,
    "wavenet_fast_generation": page_table("wavenet", "wavenet_lite", "model"),
    "wavenet_melodies": page_table("wavenet", "wavenet_lite", "config"),
    "stylegan_vs_dcgan": page_table("stylegan", "stylegan_lite", "CPU time"),
    "stylegan_lite_quality": stylegan_lite_quality,
    "stylegan_lite_batch_screen": stylegan_lite_batch_screen,
    "ddp_scaling": page_table("ddp", "ddp_scaling", "plugin"),
}


def load_results(results_dir: Path) -> Results:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(results_dir.glob("*.json"))}


def files(root: Path) -> list[Path]:
    return sorted({path for pattern in FILES for path in root.glob(pattern) if path.name != "benchmarks.md"})


def stale_blocks(path: Path, results: Results, *, write: bool = False) -> list[str]:
    """Names of the blocks in ``path`` whose body differs from its rendering (rewritten when ``write``).

    Raises:
        KeyError: A block names no known renderer, or its results file or entry is missing.
    """
    text = path.read_text(encoding="utf-8")
    stale: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise KeyError(f"{path}: unknown results block {name!r}; known: {', '.join(sorted(RENDERERS))}")
        body = RENDERERS[name](results)
        if body != match["body"]:
            stale.append(name)
        return f"<!-- results:{name} -->\n{body}<!-- /results:{name} -->"

    new = BLOCK.sub(replace, text)
    if write and new != text:
        path.write_text(new, encoding="utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is stale")
    args = parser.parse_args(argv)
    results = load_results(args.results)
    problems = []
    for path in files(args.root):
        for name in stale_blocks(path, results, write=not args.check):
            problems.append(f"{path.relative_to(args.root)}: results block {name!r}")
    verb = "differs from" if args.check else "re-rendered from"
    for problem in problems:
        print(f"{problem} {verb} benchmarks/results", file=sys.stderr if args.check else sys.stdout)
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every measured number quoted in the docs comes from benchmarks/results/*.json: a mismatch fails here."""

from pathlib import Path

import pytest

from benchmark_modules import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def blocks():
    return load_benchmark("blocks")


def test_every_results_block_matches_the_results_files(blocks):
    results = blocks.load_results(ROOT / "benchmarks" / "results")
    stale = {str(path.relative_to(ROOT)): names for path in blocks.files(ROOT)
             if (names := blocks.stale_blocks(path, results))}
    assert not stale, f"re-render with `python benchmarks/blocks.py`: {stale}"


def test_the_plugin_readmes_quote_their_measured_tables_through_blocks(blocks):
    quoted = {m["name"] for path in blocks.files(ROOT) for m in blocks.BLOCK.finditer(path.read_text(encoding="utf-8"))}
    assert {"dcgan_overhead", "dcgan_quality", "vae_overhead", "vae_quality", "gpt_mini_targets",
            "gpt_mini_kv_cache", "gpt_mini_overhead", "gpt_mini_nanogpt", "wavenet_fast_generation",
            "wavenet_melodies", "stylegan_lite_quality"} <= quoted


def test_a_plugin_readme_and_its_docs_page_quote_the_same_blocks(blocks):
    def names(path: Path) -> set[str]:
        return {m["name"] for m in blocks.BLOCK.finditer(path.read_text(encoding="utf-8"))}

    for plugin in ("wavenet_lite", "stylegan_lite"):
        assert names(ROOT / "plugins" / plugin / "README.md") == names(ROOT / "docs" / "plugins" / f"{plugin}.md")


def test_a_number_edited_by_hand_is_caught(blocks, tmp_path):
    results = blocks.load_results(ROOT / "benchmarks" / "results")
    page = tmp_path / "README.md"
    page.write_text("<!-- results:vae_quality -->\n" + blocks.vae_quality(results) + "<!-- /results:vae_quality -->\n")
    assert blocks.stale_blocks(page, results) == []
    page.write_text(page.read_text().replace("| 1 min | 1,751 | 103.2 |", "| 1 min | 1,751 | 103.3 |"))
    assert blocks.stale_blocks(page, results) == ["vae_quality"]
    assert blocks.main(["--root", str(tmp_path), "--check"]) == 1
    assert blocks.main(["--root", str(tmp_path)]) == 0 and blocks.stale_blocks(page, results) == []


def test_an_unknown_block_name_is_an_error(blocks, tmp_path):
    page = tmp_path / "x.md"
    page.write_text("<!-- results:nope -->\n<!-- /results:nope -->\n")
    with pytest.raises(KeyError, match="unknown results block 'nope'"):
        blocks.stale_blocks(page, {})


def test_the_benchmarks_page_is_the_rendering_of_the_results_files(tmp_path):
    pytest.importorskip("matplotlib")
    report = load_benchmark("report")
    rendered = report.render(ROOT / "benchmarks" / "results", tmp_path).read_text(encoding="utf-8")
    committed = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert rendered == committed, "docs/benchmarks.md differs from its rendering: run python benchmarks/run.py --render-only"


@pytest.mark.parametrize("name", ["gpt_mini_quality", "gpt_mini_kv_cache", "wavenet_fast_generation",
                                  "wavenet_melodies", "stylegan_vs_dcgan", "ddp_scaling"])
def test_blocks_of_the_benchmarks_page_tables_quote_them_exactly(blocks, name):
    pytest.importorskip("matplotlib")
    body = blocks.RENDERERS[name](blocks.load_results(ROOT / "benchmarks" / "results"))
    assert body.startswith("| ") and body in (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")

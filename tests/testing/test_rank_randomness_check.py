"""The kit's check that DDP ranks draw different training randomness: its verdicts, and a mutant it catches."""

from __future__ import annotations

import json

import pytest
import torch
from toys.models import ToyVAE
from toys.mutants import RankSharedLatents

from gen_framework.registry import PluginSpec
from gen_framework.testing import check_plugin
from gen_framework.testing.kit import KitContext
from gen_framework.testing.rank_randomness import check_ddp_ranks_draw_differently, ddp_request

CHECK = "ddp_ranks_draw_differently"


@pytest.mark.distributed
def test_the_check_fails_for_a_plugin_drawing_from_a_rank_shared_stream():
    spec = PluginSpec(name="bad_ranks", family="adversarial", module_class=RankSharedLatents)
    report = check_plugin(spec, raise_on_failure=False, select={CHECK})
    (result,) = report.results
    assert result.outcome == "failed", str(report)
    assert "same training randomness" in result.message


# The verdicts on a worker's output, written by hand (no processes).


def fake_run(tmp_path, losses0, losses1, weights1=1.0) -> KitContext:
    ctx = KitContext(PluginSpec(name="fake", family="variational", module_class=ToyVAE), tmp_path)
    out = tmp_path / "ddp"
    out.mkdir()
    for rank, losses in ((0, losses0), (1, losses1)):
        torch.save([{"train/loss": torch.tensor(v)} for v in losses], out / f"rank{rank}_losses.pt")
    torch.save({"w": torch.ones(2)}, out / "rank0.pt")
    torch.save({"w": torch.full((2,), weights1)}, out / "rank1.pt")
    (out / "request.json").write_text(json.dumps(ddp_request(ctx, out), sort_keys=True))
    return ctx


def test_ranks_drawing_differently_pass(tmp_path):
    check_ddp_ranks_draw_differently(fake_run(tmp_path, [1.0, 2.0], [3.0, 4.0]))


def test_ranks_drawing_the_same_numbers_fail(tmp_path):
    with pytest.raises(AssertionError, match=r"same training randomness .* probe step\(s\) \[1, 2\]"):
        check_ddp_ranks_draw_differently(fake_run(tmp_path, [1.0, 2.0], [1.0, 2.0]))


def test_a_model_drawing_nothing_passes_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="draws no randomness"):
        check_ddp_ranks_draw_differently(fake_run(tmp_path, [1.0, 1.0], [1.0, 1.0]))


def test_different_weights_fail(tmp_path):
    with pytest.raises(AssertionError, match="weights differ"):
        check_ddp_ranks_draw_differently(fake_run(tmp_path, [1.0, 2.0], [3.0, 4.0], weights1=2.0))

"""Every ``genfw`` command in a fenced shell block of README.md and docs/*.md runs, as written, with small step and
sample counts appended, so a quickstart line can never fail unnoticed.

Each page is one scenario: its commands run in order, in-process, in a temporary working directory that links
to the checkout's ``configs/`` (so ``--ckpt_path last`` finds what the page trained before). Lines that cannot
run here (set-up, ``pip install``, GPUs, clusters, helper scripts) are skipped with a reason from
:data:`SKIPS`; any other kind of line fails the test, so a new kind of command gets a decision. README.md runs in
the default suite; the other pages are marked ``slow``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from gen_framework.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: (pattern matched against a command, why it is not run here)
SKIPS = [
    (r"^bash \.ci/setup$", "builds the environment the tests run in"),
    (r"^source ", "activates the environment the tests run in"),
    (r"^(\.venv/bin/)?python -m pytest", "the test suite itself"),
    (r"^pip install ", "installs a distribution; tests/test_third_party_example.py covers installing a plugin"),
    (r"^(torchrun|srun) ", "multi-node launchers (docs/distributed.md; tests/test_distributed_cli.py runs DDP)"),
    (r"--trainer\.accelerator gpu", "needs GPUs"),
    (r"--trainer\.strategy ddp", "several processes; tests/test_distributed_cli.py runs DDP on CPU"),
    (r"^python (-m gen_framework_|docs/scripts/)", "a plugin's or the docs' helper script (their own tests)"),
    (r"^genfw new-plugin ", "tests/test_scaffold.py writes and installs a new plugin"),
    (r"configs/digits\.yaml$|my_gan", "needs the new plugin installed by pip"),
]
#: Appended to each subcommand so a page runs in seconds; later options win in LightningCLI.
QUICK = {
    "fit": ["--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar",
            "false", "--trainer.enable_model_summary", "false", "--threads", "1"],
    "predict": ["--num_samples", "2", "--batch_size", "2", "--trainer.enable_progress_bar", "false"],
    "test": ["--trainer.limit_test_batches", "1", "--trainer.limit_val_batches", "1", "--evaluation.num_samples", "8",
             "--evaluation.sample_batch_size", "8", "--evaluation.feature_steps", "2", "--evaluation.kid_subsets",
             "2", "--evaluation.kid_subset_size", "4", "--evaluation.iwae_samples", "2",
             "--trainer.enable_progress_bar", "false"],
}
QUICK["validate"] = QUICK["test"]
#: Run first on a page that uses ``--ckpt_path last`` before it trains anything.
PRELUDE = "genfw fit --config configs/dcgan/mnist.yaml"
#: Options whose documented values would take minutes here, and the small value used instead.
SHRINK = {"--sampling.seconds": "0.02", "--sampling.max_new_tokens": "16"}


def shell_commands(page: Path) -> list[str]:
    """The commands of the page's ``bash``/``sh``/``console`` blocks: continuations joined, comments and ``$``
    prompts removed, ``a && b`` split."""
    commands = []
    text = page.read_text(encoding="utf-8")
    for body in re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, flags=re.S):
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "$":
                words = words[1:]
            part: list[str] = []
            for word in [*words, "&&"]:
                if word == "&&":
                    commands += [shlex.join(part)] if part else []
                    part = []
                else:
                    part.append(word)
    return commands


def skip_reason(command: str) -> str | None:
    return next((why for pattern, why in SKIPS if re.search(pattern, command)), None)


def quick_args(command: str) -> list[str]:
    """``genfw ...`` as an argument list for :func:`main`, with :data:`QUICK` appended and :data:`SHRINK` applied."""
    words = shlex.split(command)
    assert Path(words[0]).name == "genfw", command
    args = words[1:]
    for i, word in enumerate(args[:-1]):
        if word in SHRINK:
            args[i + 1] = SHRINK[word]
    return [*args, *QUICK.get(args[0], [])] if args else args


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, id=page_id(p), marks=() if p.name == "README.md" else pytest.mark.slow) for p in PAGES],
)
def test_every_documented_command_runs(page, tmp_path, monkeypatch, capsys):
    commands = shell_commands(page)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    unknown = [c for c in commands if not skip_reason(c) and not Path(shlex.split(c)[0]).name == "genfw"]
    assert not unknown, f"{page_id(page)}: decide how to test these lines (run or add to SKIPS): {unknown}"
    runnable = [c for c in commands if not skip_reason(c)]
    first_fit = next((i for i, c in enumerate(runnable) if shlex.split(c)[1:2] == ["fit"]), len(runnable))
    if any("--ckpt_path last" in c for c in runnable[:first_fit]):
        # the page evaluates or samples "the newest checkpoint" without training one itself: train one first
        runnable.insert(0, PRELUDE)
    for command in runnable:
        code = main(quick_args(command))
        captured = capsys.readouterr()
        assert code == 0, f"{page_id(page)}: `{command}` exited {code}: {captured.err[-2000:]}"


def test_readme_quickstart_has_its_commands_and_they_are_run():
    commands = shell_commands(ROOT / "README.md")
    run = [c for c in commands if not skip_reason(c)]
    assert any(c.startswith(".venv/bin/genfw fit --config configs/dcgan/mnist.yaml") for c in run)
    assert "genfw fit --model dcgan --data digits --data.image_size 32" in run
    assert sum(c.split()[1] == "fit" for c in run if "genfw" in c) >= 5


def test_quick_args_appends_small_counts_and_shrinks_long_sampling():
    args = quick_args("genfw predict --ckpt_path last --sampling.seconds 2")
    assert args[:4] == ["predict", "--ckpt_path", "last", "--sampling.seconds"] and args[4] == "0.02"
    assert args[-6:] == QUICK["predict"]

"""Bad input, case by case, through the real ``genfw`` entry point.

Every case must end with a non-zero exit code and one line on stderr, ``genfw: error: ...``, that names the
problem (the key, file or value, and what is allowed), with no traceback; and every file that existed before
the run must be byte-for-byte the same after it, with no new file left behind. Most cases fail while the
arguments, config files or checkpoints are read; the ones that need data or a model stop before the first
training step. Two cases run ``python -m gen_framework`` in a real process to check the same end to end.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from toys.models import ToyImageGAN, ToyVAE

from gen_framework.cli import main
from gen_framework.registry import PluginSpec, registry

TOY_DATA = "toys.data.ToyImages"
PNG = bytes.fromhex("89504e470d0a1a0a")  # a PNG signature with nothing after it
TINY_DCGAN = ["--model", "dcgan", "--model.init_args.latent_dim", "4", "--model.init_args.base_channels", "2"]
TINY_GPT = ["--model", "gpt_mini", "--model.init_args.n_layer", "1", "--model.init_args.n_head", "2",
            "--model.init_args.n_embd", "8", "--model.init_args.block_size", "8"]
# Cases that get as far as building a Trainer fail before its first step; logs and checkpoints would go to runs/.
ONE_STEP = ["--trainer.max_steps", "1", "--trainer.enable_progress_bar", "false"]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One-step checkpoints of two toy plugins (a GAN and a VAE), written once for the module."""
    _register_toys()
    root = tmp_path_factory.mktemp("ckpts")
    paths = {}
    for name in ("toygan", "toyvae"):
        code = main(["fit", "--model", name, "--data", TOY_DATA, "--trainer.max_steps", "1",
                     "--trainer.limit_val_batches", "0", "--trainer.enable_progress_bar", "false",
                     "--trainer.logger", "false", "--checkpoint.dirpath", str(root / name),
                     "--trainer.default_root_dir", str(root)])  # else config.yaml goes to ./runs
        assert code == 0
        paths[name] = root / name / "last.ckpt"
    yield paths
    registry.unregister("toygan")
    registry.unregister("toyvae")


def _register_toys() -> None:
    # Other tests may have registered these classes under other names; checkpoints must name ours.
    for record in registry.records():
        if record.spec is not None and record.spec.module_class in (ToyImageGAN, ToyVAE):
            registry.unregister(record.name)
    registry.register(PluginSpec(name="toygan", family="adversarial", module_class=ToyImageGAN), replace=True)
    registry.register(PluginSpec(name="toyvae", family="variational", module_class=ToyVAE), replace=True)


@dataclass
class Workspace:
    """The folder a case runs in (the working directory), with files that must survive the failed run."""

    root: Path
    gan_ckpt: Path
    vae_ckpt: Path
    monkeypatch: pytest.MonkeyPatch
    #: Set by a setup that installs a distribution: the registry must forget it afterwards.
    rediscover: bool = False

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path


@pytest.fixture
def workspace(tmp_path, checkpoints, monkeypatch):
    _register_toys()
    root = tmp_path / "work"
    (root / "keep").mkdir(parents=True)
    (root / "keep" / "notes.txt").write_text("results of an earlier run\n")
    gan = root / "keep" / "gan.ckpt"
    vae = root / "keep" / "vae.ckpt"
    shutil.copyfile(checkpoints["toygan"], gan)
    shutil.copyfile(checkpoints["toyvae"], vae)
    monkeypatch.chdir(root)
    ws = Workspace(root, gan, vae, monkeypatch)
    yield ws
    if ws.rediscover:
        monkeypatch.undo()
        registry.discover(force=True)


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def error_line(stderr: str) -> str:
    """The single ``genfw: error:`` line that stderr must consist of."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert lines[0].startswith("genfw: error: "), stderr
    return lines[0]


# --------------------------------------------------------------- case setups


def files(named: dict[str, str | bytes]) -> Callable[[Workspace], None]:
    """A setup that writes each ``{relative path: content}`` into the workspace."""

    def setup(ws: Workspace) -> None:
        for name, content in named.items():
            ws.write(name, content)

    return setup


def file(name: str, content: str | bytes) -> Callable[[Workspace], None]:
    return files({name: content})


def _npz(ws: Workspace, name: str, **arrays: np.ndarray) -> None:
    np.savez(ws.root / name, **arrays)


def npz_without_key(ws: Workspace) -> None:
    _npz(ws, "data.npz", pixels=np.zeros((4, 8, 8), np.uint8))


def npz_with_nan(ws: Workspace) -> None:
    images = np.random.default_rng(0).random((8, 8, 8), dtype=np.float32)
    images[5, 2, 3] = np.nan
    _npz(ws, "data.npz", images=images)


def npz_with_objects(ws: Workspace) -> None:
    np.savez(ws.root / "data.npz", images=np.array([{"a": 1}, None], dtype=object))


def wav_with_nan(ws: Workspace) -> None:
    (ws.root / "audio").mkdir()
    wave = np.zeros(800, np.float32)
    wave[10] = np.nan
    soundfile.write(ws.root / "audio" / "clip.wav", wave, 16000, subtype="FLOAT")


def truncated_checkpoint(ws: Workspace) -> None:
    ws.write("trunc.ckpt", ws.gan_ckpt.read_bytes()[:400])


class _Exploit:
    """Pickles as a call that creates ``marker``: what a malicious checkpoint would do on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def evil_checkpoint(ws: Workspace) -> None:
    torch.save({"state_dict": {}, "payload": _Exploit(ws.root.parent / "executed")}, ws.root / "evil.ckpt")


def evil_pickle(ws: Workspace) -> None:
    import pickle

    ws.write("evil.ckpt", pickle.dumps({"state_dict": {}, "payload": _Exploit(ws.root.parent / "executed")}))


def foreign_checkpoint(ws: Workspace) -> None:
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 0}, ws.root / "foreign.ckpt")


def checkpoint_of(plugin: str | None, hparams: dict | None = None) -> Callable[[Workspace], None]:
    """A copy of the toy GAN checkpoint whose provenance names ``plugin`` or whose hyperparameters are changed."""

    def setup(ws: Workspace) -> None:
        state = torch.load(ws.gan_ckpt, weights_only=True)
        if plugin is not None:
            state["gen_framework"]["plugin"] = plugin
        if hparams is not None:
            state["hyper_parameters"].update(hparams)
        torch.save(state, ws.root / "edited.ckpt")

    return setup


def runs_without_checkpoint(ws: Workspace) -> None:
    ws.write("runs/toygan/version_0/hparams.yaml", "hidden: 8\n")


def read_only_dir(ws: Workspace) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    (ws.root / "locked").mkdir()
    (ws.root / "locked" / "old.png").write_bytes(PNG)
    (ws.root / "locked").chmod(0o500)  # the test restores 0o700 so that tmp_path can be removed


def fake_distribution(dist: str, name: str, source: str) -> Callable[[Workspace], None]:
    """A setup installing (on a temporary sys.path entry) a distribution whose entry point loads ``source``."""

    def setup(ws: Workspace) -> None:
        site = ws.root.parent / "site"
        info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[gen_framework.plugins]\n{name} = {name}_mod:PLUGIN\n")
        (site / f"{name}_mod.py").write_text(textwrap.dedent(source))
        ws.monkeypatch.syspath_prepend(str(site))
        ws.monkeypatch.delenv("GEN_FRAMEWORK_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        ws.rediscover = True
        registry.discover(force=True)

    return setup


FUTURE_PLUGIN = """
    from gen_framework.registry import PluginSpec
    from toys.models import ToyImageGAN
    PLUGIN = PluginSpec(name="futuretoy", family="adversarial", module_class=ToyImageGAN, api_version="2.0")
"""

#: Nine lines of YAML whose aliases expand to 9**9 (about 387 million) strings: the "billion laughs".
ALIAS_BOMB = "evaluation:\n  a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)



# ------------------------------------------------- round two: setups


class _SystemCall:
    """Pickles as ``os.system(...)`` (``posix.system``): the classic code-running checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def system_call_checkpoint(ws: Workspace) -> None:
    torch.save({"state_dict": {}, "payload": _SystemCall(ws.root.parent / "executed")}, ws.root / "evil.ckpt")


def damaged_weights(ws: Workspace) -> None:
    """A copy of the GAN checkpoint with bytes flipped inside a weight tensor (the zip's CRC no longer matches)."""
    import zipfile

    data = bytearray(ws.gan_ckpt.read_bytes())
    with zipfile.ZipFile(ws.gan_ckpt) as archive:
        member = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    name_length = int.from_bytes(data[member.header_offset + 26:member.header_offset + 28], "little")
    extra_length = int.from_bytes(data[member.header_offset + 28:member.header_offset + 30], "little")
    start = member.header_offset + 30 + name_length + extra_length
    for i in range(start, start + min(400, member.file_size)):
        data[i] ^= 0xFF
    ws.write("damaged.ckpt", bytes(data))


def local_module_checkpoint(ws: Workspace) -> None:
    """A checkpoint naming no plugin and the class ``evil_mod.Model``, with ``evil_mod.py`` importable from here."""
    ws.write("evil_mod.py", f"open({str(ws.root.parent / 'executed')!r}, 'w').close()\nclass Model: pass\n")
    ws.monkeypatch.syspath_prepend(str(ws.root))
    state = torch.load(ws.gan_ckpt, weights_only=True)
    state["gen_framework"]["plugin"] = None
    state["gen_framework"]["class_path"] = "evil_mod.Model"
    torch.save(state, ws.root / "edited.ckpt")


def edited_checkpoint(edit: Callable[[dict], None]) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        state = torch.load(ws.gan_ckpt, weights_only=True)
        edit(state)
        torch.save(state, ws.root / "edited.ckpt")

    return setup


def _weights_only(state: dict) -> None:
    for key in ("optimizer_states", "lr_schedulers", "loops", "callbacks"):
        state.pop(key, None)


def _drop_a_weight(state: dict) -> None:
    state["state_dict"].pop(sorted(state["state_dict"])[0])


def runs_of(plugin: str, *, running: bool = False) -> Callable[[Workspace], None]:
    """``runs/<plugin>/version_0/checkpoints/last.ckpt``, optionally marked as still being written by this process."""

    def setup(ws: Workspace) -> None:
        import json as _json
        import socket

        folder = ws.root / "runs" / plugin / "version_0" / "checkpoints"
        folder.mkdir(parents=True)
        shutil.copyfile(ws.gan_ckpt if plugin == "toygan" else ws.vae_ckpt, folder / "last.ckpt")
        if running:
            (folder / ".genfw-running").write_text(_json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))

    return setup


def wav_with_huge_rate(ws: Workspace) -> None:
    """A WAV whose header claims 2**31 - 1 samples per second (resampling it would need hundreds of GiB)."""
    import struct

    samples = b"\x00\x00" * 800
    rate = 2**31 - 1
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, (rate * 2) & 0xFFFFFFFF, 2, 16) + b"data" + struct.pack("<I", len(samples))
    ws.write("audio/bomb.wav", header + samples)


def _idx(shape: tuple[int, ...], data: bytes) -> bytes:
    import struct

    return bytes([0, 0, 0x08, len(shape)]) + b"".join(struct.pack(">I", n) for n in shape) + data


def idx_gzip_bomb(ws: Workspace) -> None:
    """IDX files whose header declares 100,000 images of 1000x1000 (93 GiB) in a 100 KiB gzip file."""
    import gzip

    ws.write("idx/train-images-idx3-ubyte.gz", gzip.compress(_idx((100_000, 1000, 1000), bytes(10_000_000))))
    ws.write("idx/train-labels-idx1-ubyte", _idx((100_000,), bytes(100_000)))


def idx_zero_dimension(ws: Workspace) -> None:
    ws.write("idx/train-images-idx3-ubyte", _idx((0, 28, 28), b""))
    ws.write("idx/train-labels-idx1-ubyte", _idx((0,), b""))


def fifo_image(ws: Workspace) -> None:
    (ws.root / "photos").mkdir()
    os.mkfifo(ws.root / "photos" / "pipe.png")


def huge_config(ws: Workspace) -> None:
    ws.write("big.yaml", "trainer:\n" + "".join(f"  k{i}: {i}\n" for i in range(150_000)))


LONG_NAME = "d" * 300

# ---------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One bad input: the arguments (``{gan}``/``{vae}`` are the workspace's checkpoints), the words the error
    must contain, and a setup that writes the files the case needs."""

    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    setup: Callable[[Workspace], None] | None = None
    #: The problem shows only in the first step, once the run has started and may have created its log folder.
    starts_run: bool = False


def case(
    id: str, argv: list[str], *names: str, setup: Callable[[Workspace], None] | None = None, starts_run: bool = False
) -> Case:
    return Case(id, tuple(argv), names, setup, starts_run)


FIT_TOY = ["fit", "--model", "toygan", "--data", TOY_DATA]
FIT_DCGAN_DIGITS = ["fit", *TINY_DCGAN, "--data", "digits"]

CASES = [
    # --- malformed config files
    case("yaml-bad-indentation", ["fit", "--config", "bad.yaml"], "bad.yaml", "line 3", "not valid YAML",
         setup=file("bad.yaml", "trainer:\n  max_steps: 1\n   oops: 2\n")),
    case("yaml-tab-indentation", ["fit", "--config", "tabs.yaml"], "tabs.yaml", "line 2", "not tabs",
         setup=file("tabs.yaml", "trainer:\n\tmax_steps: 1\n")),
    case("yaml-unclosed-bracket", ["fit", "--config", "open.yaml"], "open.yaml", "']'", "flow sequence",
         setup=file("open.yaml", "model: {init_args: [1, 2\n")),
    case("yaml-top-level-list", ["fit", "--config", "list.yaml"], "list.yaml", "mapping of sections", "list",
         setup=file("list.yaml", "- trainer\n- model\n")),
    case("yaml-top-level-scalar", ["fit", "--config", "word.yaml"], "word.yaml", "mapping of sections", "str",
         setup=file("word.yaml", "just some words\n")),
    case("yaml-not-utf8", ["fit", "--config", "latin.yaml"], "latin.yaml", "UTF-8", "0xe9",
         setup=file("latin.yaml", "trainer:\n  name: caf\xe9\n".encode("latin-1"))),
    case("yaml-python-tag-is-not-constructed", ["fit", "--config", "tag.yaml"], "tag.yaml", "python/object/apply",
         setup=file("tag.yaml", 'trainer: !!python/object/apply:pathlib.Path.touch ["executed"]\n')),
    case("yaml-alias-bomb", ["fit", "--config", "bomb.yaml", *FIT_TOY[1:]], "bomb.yaml", "100,000 values",
         "aliases", setup=file("bomb.yaml", ALIAS_BOMB)),
    case("yaml-value-contains-itself", ["fit", "--config", "loop.yaml", *FIT_TOY[1:]], "loop.yaml",
         "contains itself", setup=file("loop.yaml", "trainer:\n  callbacks: &loop [*loop]\n")),
    case("config-file-missing", ["fit", "--config", "nowhere.yaml"], "nowhere.yaml", "does not exist"),
    case("config-section-not-a-mapping", ["fit", "--config", "c.yaml", *FIT_TOY[1:]], "c.yaml", "`trainer`",
         "mapping", setup=file("c.yaml", "trainer: 5\n")),
    case("config-init-args-not-a-mapping", ["fit", "--config", "c.yaml", "--data", TOY_DATA], "model.init_args",
         "mapping", "[1, 2]", setup=file("c.yaml", "model:\n  class_path: ToyImageGAN\n  init_args: [1, 2]\n")),
    case("interpolation-unclosed", ["fit", "--config", "c.yaml", *FIT_TOY[1:]], "trainer.max_steps", "${oops",
         setup=file("c.yaml", "trainer:\n  max_steps: ${oops\n")),
    case("interpolation-missing-key", ["fit", "--config", "c.yaml", *FIT_TOY[1:]], "trainer.max_steps",
         "'nothere' not found", setup=file("c.yaml", "trainer:\n  max_steps: ${nothere}\n")),
    case("interpolation-resolver-is-not-evaluated", ["fit", "--config", "c.yaml", *FIT_TOY[1:]],
         "trainer.max_steps", "Unsupported interpolation type eval",
         setup=file("c.yaml", "trainer:\n  max_steps: ${eval:'__import__(\"os\").getpid()'}\n")),
    case("config-plugin-short-name-as-class-path", ["fit", "--config", "c.yaml", "--data", "digits"], "'dcgan'",
         "class_path: gen_framework_dcgan", setup=file("c.yaml", "model:\n  class_path: dcgan\n")),
    case("config-class-path-not-importable", ["fit", "--config", "c.yaml", "--data", "digits"], "model",
         "no_such_package.Model", setup=file("c.yaml", "model:\n  class_path: no_such_package.Model\n")),
    case("config-model-without-class-path", ["fit", "--config", "c.yaml", "--data", "digits"], "model",
         "no class_path given", setup=file("c.yaml", "model:\n  init_args:\n    latent_dim: 3\n")),
    # --- unknown keys
    case("unknown-top-level-option", [*FIT_TOY, "--no_such", "3"], "'no_such'", "trainer", "model", "data"),
    case("unknown-top-level-section-in-config", ["fit", "--config", "c.yaml", *FIT_TOY[1:]], "'trainers'",
         "trainer", setup=file("c.yaml", "trainers:\n  max_steps: 1\n")),
    case("unknown-trainer-option-close-match", [*FIT_TOY, "--trainer.max_stepz", "3"], "trainer.max_stepz",
         "did you mean trainer.max_steps"),
    case("unknown-trainer-option-in-config", ["fit", "--config", "c.yaml", *FIT_TOY[1:]], "trainer.zzz",
         "accelerator", "max_steps", setup=file("c.yaml", "trainer:\n  zzz: 1\n")),
    case("unknown-model-init-arg", [*FIT_DCGAN_DIGITS, "--model.init_args.latnt_dim", "3"],
         "model.init_args.latnt_dim", "DCGAN", "'latent_dim'", "base_channels"),
    case("unknown-model-init-arg-in-config", ["fit", "--config", "c.yaml", "--data", TOY_DATA], "'hiden'",
         "ToyImageGAN", "'hidden'",
         setup=file("c.yaml", "model:\n  class_path: ToyImageGAN\n  init_args:\n    hiden: 8\n")),
    case("unknown-data-init-arg", [*FIT_DCGAN_DIGITS, "--data.init_args.batchsize", "3"],
         "data.init_args.batchsize", "Digits", "'batch_size'"),
    case("unknown-sampling-option", ["predict", "--ckpt_path", "{gan}", "--sampling.temprature", "2"],
         "sampling.temprature", "truncation_psi"),
    # --- wrong types
    case("string-for-int", [*FIT_DCGAN_DIGITS, "--model.init_args.latent_dim", "many"], "latent_dim", "DCGAN",
         "expected int", "many"),
    case("list-for-int", [*FIT_DCGAN_DIGITS, "--model.init_args.latent_dim", "[1, 2]"], "latent_dim",
         "expected int", "[1, 2]"),
    case("float-for-int-trainer", [*FIT_TOY, "--trainer.max_steps", "1.5"], "trainer.max_steps", "expected int",
         "1.5"),
    case("string-for-int-in-config", ["fit", "--config", "c.yaml", "--model", "toygan"], "batch_size",
         "ToyImages", "expected int", "lots",
         setup=file("c.yaml", f"data:\n  class_path: {TOY_DATA}\n  init_args:\n    batch_size: lots\n")),
    case("string-for-bool-or-int", [*FIT_TOY, "--seed_everything", "abc"], "seed_everything", "bool or int",
         "abc"),
    case("string-for-optional-float", [*FIT_DCGAN_DIGITS, "--model.init_args.ema_decay", "high"], "ema_decay",
         "expected float", "high"),
    case("string-for-literal", [*FIT_TOY, "--trainer.precision", "7"], "trainer.precision", "'bf16-mixed'",
         "got 7"),
    case("option-without-value", [*FIT_TOY, "--trainer.max_steps"], "--trainer.max_steps", "needs a value"),
    # --- values out of range
    case("negative-size", [*FIT_DCGAN_DIGITS, "--model.init_args.latent_dim", "-3"], "latent_dim", ">= 1",
         "-3"),
    case("zero-batch-size", [*FIT_DCGAN_DIGITS, "--data.init_args.batch_size", "0"], "batch_size", ">= 1",
         "got 0"),
    case("zero-learning-rate", [*FIT_DCGAN_DIGITS, "--model.init_args.lr_g", "0"], "lr_g", "> 0", "0.0"),
    case("negative-learning-rate", ["fit", *TINY_GPT, "--data", "pydocs", "--model.init_args.lr", "-1"], "lr > 0",
         "lr=-1.0"),
    case("nan-in-config", ["fit", "--config", "c.yaml", "--data", TOY_DATA], "model.init_args.lr_g",
         "finite", "nan",
         setup=file("c.yaml", "model:\n  class_path: ToyImageGAN\n  init_args:\n    lr_g: .nan\n")),
    case("dropout-above-one", ["fit", *TINY_GPT, "--data", "pydocs", "--model.init_args.dropout", "1.5"],
         "dropout", "[0, 1)", "1.5"),
    case("val-fraction-one", [*FIT_DCGAN_DIGITS, "--data.init_args.val_fraction", "1.0"], "val_fraction",
         "[0.0, 1.0)", "1.0"),
    case("ema-decay-above-one", [*FIT_DCGAN_DIGITS, "--model.init_args.ema_decay", "1.5"], "ema_decay",
         "(0, 1)", "1.5"),
    case("negative-max-steps", [*FIT_TOY, "--trainer.max_steps", "-5", "--trainer.logger", "false"],
         "trainer", "max_steps", "-5"),
    case("num-samples-zero", ["predict", "--ckpt_path", "{gan}", "--num_samples", "0"], "--num_samples", ">= 1",
         "got 0"),
    case("predict-batch-size-zero", ["predict", "--ckpt_path", "{gan}", "--batch_size", "0"], "--batch_size",
         ">= 1"),
    # --- combinations the models cannot take
    case("dcgan-image-size", [*FIT_DCGAN_DIGITS, "--model.init_args.image_size", "30"], "image_size", "DCGAN",
         "28, 32, 64", "30"),
    case("dcgan-image-size-differs-from-data", [*FIT_DCGAN_DIGITS, "--model.init_args.image_size", "28",
                                                "--data.init_args.image_size", "32", *ONE_STEP],
         "--model.init_args.image_size 28", "--data.init_args.image_size 32"),
    case("gpt-n-embd-not-divisible", ["fit", *TINY_GPT, "--data", "pydocs", "--model.init_args.n_embd", "10",
                                      "--model.init_args.n_head", "3"], "n_embd (10)", "n_head (3)", "divisible"),
    case("vae-odd-image-size", ["fit", "--model", "vae", "--data", "digits", "--model.init_args.image_size", "33"],
         "image_size", "ConvVAE", "28, 32, 64", "33"),
    case("stylegan-resolution", ["fit", "--model", "stylegan_lite", "--model.init_args.image_size", "48"],
         "image_size", "32, 64", "48"),
    case("gpt-block-size-below-data", ["fit", *TINY_GPT, "--data", "text_file", "--data.init_args.files",
                                       "text.txt", "--data.init_args.block_size", "16", *ONE_STEP],
         "GPTMini", "sequences are 16 tokens", "the 8 the model accepts", "block_size",
         setup=file("text.txt", "the quick brown fox jumps over the lazy dog\n" * 20)),
    case("text-shorter-than-block", ["fit", *TINY_GPT, "--data", "text_file", "--data.init_args.files",
                                     "short.txt", "--data.init_args.block_size", "64", *ONE_STEP],
         "block_size + 1 = 65", "block_size", setup=file("short.txt", "tiny\n")),
    case("image-model-on-text-data", ["fit", *TINY_GPT, "--data", "digits", *ONE_STEP], "GPTMini", "text",
         "image"),
    # --- data that is missing, empty or damaged
    case("image-folder-missing", [*FIT_DCGAN_DIGITS[:-1], "image_folder", "--data.init_args.root", "photos",
                                  *ONE_STEP], "ImageFolder", "photos", "does not exist"),
    case("image-folder-empty", [*FIT_DCGAN_DIGITS[:-1], "image_folder", "--data.init_args.root", "photos",
                                *ONE_STEP], "ImageFolder", "photos", ".png",
         setup=lambda ws: (ws.root / "photos").mkdir()),
    case("image-folder-without-images", [*FIT_DCGAN_DIGITS[:-1], "image_folder", "--data.init_args.root",
                                         "photos", *ONE_STEP], "photos", ".jpg", ".png",
         setup=files({"photos/readme.txt": "no images here", "photos/scan.pdf": b"%PDF-1.4"})),
    case("image-folder-corrupt-images", [*FIT_DCGAN_DIGITS[:-1], "image_folder", "--data.init_args.root",
                                         "photos", *ONE_STEP], "photos", "broken.png", "cannot identify",
         setup=files({"photos/broken.png": PNG, "photos/empty.jpg": b""})),
    case("wav-folder-not-audio", ["fit", "--model", "wavenet_lite", "--data", "wav_folder",
                                  "--data.init_args.root", "audio", *ONE_STEP], "WavFolder", "audio",
         "speech.wav", "Format not recognised", setup=file("audio/speech.wav", "this is not audio")),
    case("wav-folder-nan-samples", ["fit", "--model", "wavenet_lite", "--data", "wav_folder",
                                    "--data.init_args.root", "audio", *ONE_STEP], "clip.wav", "NaN",
         setup=wav_with_nan),
    case("text-not-utf8", ["fit", *TINY_GPT, "--data", "text_file", "--data.init_args.files", "latin.txt",
                           *ONE_STEP], "latin.txt", "UTF-8", "0xe9",
         setup=file("latin.txt", "caf\xe9 au lait\n".encode("latin-1"))),
    case("text-empty", ["fit", *TINY_GPT, "--data", "text_file", "--data.init_args.files", "empty.txt",
                        *ONE_STEP], "empty.txt", "no text", setup=file("empty.txt", "")),
    case("text-missing", ["fit", *TINY_GPT, "--data", "text_file", "--data.init_args.files", "gone.txt",
                          *ONE_STEP], "gone.txt", "No such file"),
    case("npz-without-key", [*FIT_DCGAN_DIGITS[:-1], "npz", "--data.init_args.path", "data.npz",
                             "--data.init_args.key", "images", *ONE_STEP], "data.npz", "'images'", "'pixels'",
         setup=npz_without_key),
    case("npz-with-nan", [*FIT_DCGAN_DIGITS[:-1], "npz", "--data.init_args.path", "data.npz", *ONE_STEP],
         "data.npz", "NaN/Inf", "image 5", setup=npz_with_nan),
    case("npz-with-pickled-objects", [*FIT_DCGAN_DIGITS[:-1], "npz", "--data.init_args.path", "data.npz",
                                      *ONE_STEP], "data.npz", "allow_pickle=False", setup=npz_with_objects),
    case("npz-corrupt", [*FIT_DCGAN_DIGITS[:-1], "npz", "--data.init_args.path", "data.npz", *ONE_STEP],
         "data.npz", "cannot read", setup=file("data.npz", b"PK\x03\x04 damaged")),
    # --- checkpoints
    case("checkpoint-garbage", ["predict", "--ckpt_path", "junk.ckpt"], "junk.ckpt", "torch.save",
         setup=file("junk.ckpt", b"this is not a checkpoint")),
    case("checkpoint-truncated", ["predict", "--ckpt_path", "trunc.ckpt"], "trunc.ckpt", "truncated or corrupt",
         setup=truncated_checkpoint),
    case("checkpoint-empty", ["predict", "--ckpt_path", "empty.ckpt"], "empty.ckpt", "0 bytes",
         setup=file("empty.ckpt", b"")),
    case("checkpoint-pickle-runs-code", ["predict", "--ckpt_path", "evil.ckpt"], "refused", "evil.ckpt",
         "asks to run code", setup=evil_checkpoint),
    case("checkpoint-plain-pickle-runs-code", ["predict", "--ckpt_path", "evil.ckpt"], "evil.ckpt",
         "could run code", setup=evil_pickle),
    case("checkpoint-missing", ["predict", "--ckpt_path", "gone.ckpt"], "gone.ckpt", "no checkpoint file"),
    case("checkpoint-in-config-missing", ["fit", "--config", "c.yaml", *FIT_TOY[1:]], "gone.ckpt",
         "no checkpoint file", setup=file("c.yaml", "ckpt_path: gone.ckpt\n")),
    case("checkpoint-is-a-directory", ["predict", "--ckpt_path", "keep"], "keep", "a directory"),
    case("checkpoint-of-another-plugin", ["predict", "--ckpt_path", "{gan}", "--model", "vae"], "contradicts",
         "ToyImageGAN", "ConvVAE"),
    case("checkpoint-of-another-plugin-fit", ["fit", "--ckpt_path", "{vae}", "--model", "toygan", "--data",
                                              TOY_DATA], "contradicts", "ToyVAE", "ToyImageGAN"),
    case("checkpoint-not-from-gen-framework", ["predict", "--ckpt_path", "foreign.ckpt"], "foreign.ckpt",
         "not written by a gen-framework model", setup=foreign_checkpoint),
    case("checkpoint-of-uninstalled-plugin", ["predict", "--ckpt_path", "edited.ckpt"], "edited.ckpt",
         "'ghostplugin'", "unknown plugin", setup=checkpoint_of("ghostplugin")),
    case("checkpoint-hyperparameters-do-not-fit", ["predict", "--ckpt_path", "edited.ckpt"], "hyperparameters",
         "ToyImageGAN", "'widht'", setup=checkpoint_of(None, {"widht": 3})),
    case("checkpoint-weights-do-not-fit-hyperparameters", ["predict", "--ckpt_path", "edited.ckpt"], "edited.ckpt",
         "generator.0.weight", "(32, 8)", "(16, 8)", setup=checkpoint_of(None, {"hidden": 16})),
    case("ckpt-path-last-without-checkpoints", ["predict", "--ckpt_path", "last"], "--ckpt_path last",
         "no checkpoint found", "runs", setup=runs_without_checkpoint),
    case("predict-without-checkpoint", ["predict", "--num_samples", "2"], "--ckpt_path", "'last'"),
    # --- output locations
    case("output-dir-is-a-file", ["predict", "--ckpt_path", "{gan}", "--output_dir", "keep/notes.txt"],
         "--output_dir", "keep/notes.txt", "existing file"),
    case("output-dir-under-a-file", ["predict", "--ckpt_path", "{gan}", "--output_dir", "keep/notes.txt/out"],
         "--output_dir", "notes.txt", "is a file"),
    case("root-dir-is-a-file", [*FIT_TOY, "--trainer.max_steps", "1", "--trainer.default_root_dir",
                                "keep/notes.txt"], "--trainer.default_root_dir", "existing file"),
    case("checkpoint-dir-under-a-file", [*FIT_TOY, "--trainer.max_steps", "1", "--checkpoint.dirpath",
                                         "keep/gan.ckpt/more"], "--checkpoint.dirpath", "gan.ckpt", "is a file"),
    case("output-dir-not-writable", ["predict", "--ckpt_path", "{gan}", "--output_dir", "locked"],
         "--output_dir", "locked", "not writable", setup=read_only_dir),
    # --- names: subcommands, plugins, datamodules, classes
    case("unknown-subcommand", ["train", "--model", "dcgan"], "'train'", "fit", "predict"),
    case("unknown-plugin", ["fit", "--model", "dcgann"], "'dcgann'", "dcgan", "gpt_mini", "vae"),
    case("unknown-datamodule", ["fit", "--model", "dcgan", "--data", "minst"], "'minst'", "mnist", "digits"),
    case("unknown-model-class", ["fit", "--model", "DCGun", "--data", "digits"], "'DCGun'", "DCGAN"),
    case("broken-plugin", ["fit", "--model", "brokentoy"], "brokentoy", "broken", "missing dependency foo",
         setup=fake_distribution("toy-broken", "brokentoy", "raise RuntimeError('missing dependency foo')\n")),
    case("incompatible-plugin", ["fit", "--model", "futuretoy"], "futuretoy", "incompatible",
         "plugin API 2.0", setup=fake_distribution("toy-future", "futuretoy", FUTURE_PLUGIN)),
    # --- round two: checkpoints whose metadata or bytes cannot be trusted
    case("checkpoint-asks-for-posix-system", ["predict", "--ckpt_path", "evil.ckpt"], "evil.ckpt",
         "asks to run code", "system", setup=system_call_checkpoint),
    case("checkpoint-weights-damaged", ["predict", "--ckpt_path", "damaged.ckpt"], "damaged.ckpt", "corrupt",
         "checksum", setup=damaged_weights),
    case("checkpoint-class-path-names-a-local-module", ["predict", "--ckpt_path", "edited.ckpt"], "edited.ckpt",
         "evil_mod.Model", "no installed plugin provides", setup=local_module_checkpoint),
    case("checkpoint-missing-a-weight", ["predict", "--ckpt_path", "edited.ckpt"], "edited.ckpt",
         "lacks weights", setup=edited_checkpoint(_drop_a_weight)),
    # --- resuming
    case("resume-from-weights-only", ["fit", "--ckpt_path", "edited.ckpt", *FIT_TOY[1:]], "edited.ckpt",
         "weights only", "save_weights_only", setup=edited_checkpoint(_weights_only)),
    case("resume-with-a-different-value", ["fit", "--ckpt_path", "{gan}", *FIT_TOY[1:],
                                           "--model.init_args.hidden", "16"], "--model.init_args.hidden", "16",
         "hidden=32"),
    case("resume-with-a-different-value-in-config", ["fit", "--config", "c.yaml", "--ckpt_path", "{gan}",
                                                     "--data", TOY_DATA], "hidden", "16", "hidden=32",
         setup=file("c.yaml", "model:\n  class_path: ToyImageGAN\n  init_args:\n    hidden: 16\n")),
    case("ckpt-path-last-of-another-plugin", ["predict", "--ckpt_path", "last", "--model", "toygan"],
         "--ckpt_path last", "'toygan'", "no checkpoint", setup=runs_of("toyvae")),
    case("ckpt-path-last-only-a-running-fit", ["predict", "--ckpt_path", "last", "--model", "toygan"],
         "--ckpt_path last", "still being written", setup=runs_of("toygan", running=True)),
    # --- predict bounds and output
    case("predict-truncation-psi-out-of-range", ["predict", "--ckpt_path", "{gan}", "--sampling.truncation_psi",
                                                 "3"], "--sampling.truncation_psi", "[0, 1]", "3"),
    case("predict-seed-too-large", ["predict", "--ckpt_path", "{gan}", "--seed", "99999999999999999999"],
         "--seed", "99999999999999999999"),
    case("predict-seed-negative", ["predict", "--ckpt_path", "{gan}", "--seed", "-4"], "--seed", "-4"),
    case("predict-num-samples-above-limit", ["predict", "--ckpt_path", "{gan}", "--num_samples", "1000000"],
         "--num_samples", "1000000", "--max_num_samples"),
    case("predict-output-dir-holds-files", ["predict", "--ckpt_path", "{gan}", "--output_dir", "keep"],
         "--output_dir", "keep", "--overwrite"),
    # --- loaders: sizes checked before anything is allocated, files that are not files
    case("wav-header-sample-rate-bomb", ["fit", "--model", "wavenet_lite", "--data", "wav_folder",
                                         "--data.init_args.root", "audio", *ONE_STEP], "bomb.wav",
         "2147483647", "sample rate", setup=wav_with_huge_rate),
    case("idx-gzip-bomb", [*FIT_DCGAN_DIGITS[:-1], "mnist", "--data.init_args.root", "idx", *ONE_STEP],
         "train-images-idx3-ubyte.gz", "declares", "GiB", "GEN_FRAMEWORK_MAX_FILE_BYTES", setup=idx_gzip_bomb),
    case("idx-zero-dimension", [*FIT_DCGAN_DIGITS[:-1], "mnist", "--data.init_args.root", "idx", *ONE_STEP],
         "train-images-idx3-ubyte", "(0, 28, 28)", "zero dimension", setup=idx_zero_dimension),
    case("image-folder-only-a-fifo", [*FIT_DCGAN_DIGITS[:-1], "image_folder", "--data.init_args.root", "photos",
                                      *ONE_STEP], "photos", ".png", "pipe.png", "not regular files", setup=fifo_image),
    case("text-file-is-dev-zero", ["fit", *TINY_GPT, "--data", "text_file", "--data.init_args.files", "/dev/zero",
                                   *ONE_STEP], "/dev/zero", "not a regular file"),
    # --- configs and values that used to end in a traceback or a misleading line
    case("yaml-huge-file", ["fit", "--config", "big.yaml", *FIT_TOY[1:]], "big.yaml", "larger than 1 MiB",
         setup=huge_config),
    case("yaml-empty-file", ["fit", "--config", "empty.yaml", *FIT_TOY[1:]], "empty.yaml", "is empty",
         setup=file("empty.yaml", "")),
    case("negative-value-as-separate-argument", [*FIT_DCGAN_DIGITS, "--model.init_args.lr_g", "-1e-3"], "lr_g",
         "> 0", "-0.001"),
    case("path-longer-than-the-file-system-allows", [*FIT_TOY, "--trainer.default_root_dir", LONG_NAME],
         "--trainer.default_root_dir", "File name too long"),
    case("model-too-large-to-allocate", [*FIT_DCGAN_DIGITS, "--model.init_args.latent_dim", "100000000000"],
         "too large to build", "GiB"),
    case("new-plugin-output-is-a-file", ["new-plugin", "foo", "--family", "adversarial", "--output",
                                         "keep/notes.txt"], "--output", "keep/notes.txt", "existing file"),
]


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_error_and_touches_no_file(bad: Case, workspace, capsys):
    if bad.setup is not None:
        bad.setup(workspace)
    before = snapshot(workspace.root)
    argv = [a.format(gan=workspace.gan_ckpt, vae=workspace.vae_ckpt) for a in bad.argv]
    try:
        code = main(argv)
    finally:
        if (workspace.root / "locked").exists():
            (workspace.root / "locked").chmod(0o700)
    captured = capsys.readouterr()
    assert code != 0, captured.out + captured.err
    line = error_line(captured.err)
    missing = [name for name in bad.names if name not in line]
    assert not missing, f"{missing} not named in: {line}"
    after = snapshot(workspace.root)
    if bad.starts_run:
        after = {name: digest for name, digest in after.items() if not name.startswith("runs/")}
    assert after == before, "the failed run changed, removed or added files"
    assert not (workspace.root.parent / "executed").exists(), "input was executed as code"


def test_the_matrix_is_broad():
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)


# ------------------------------------------------------------ real processes


def _genfw(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gen_framework", *args], capture_output=True, text=True,
                          timeout=180, cwd=cwd)


def test_a_process_given_an_unknown_model_option_exits_2_with_one_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  class_path: gen_framework_dcgan.DCGAN\n  init_args:\n    latnt_dim: 8\n")
    result = _genfw("fit", "--config", str(config), "--data", "digits", cwd=tmp_path)
    assert result.returncode == 2
    line = error_line(result.stderr)
    assert "latnt_dim" in line and "'latent_dim'" in line and "DCGAN" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_a_process_refuses_a_checkpoint_that_would_run_code(tmp_path):
    marker = tmp_path / "executed"
    torch.save({"state_dict": {}, "payload": _Exploit(marker)}, tmp_path / "evil.ckpt")
    result = _genfw("predict", "--ckpt_path", "evil.ckpt", cwd=tmp_path)
    assert result.returncode == 2
    assert "refused" in error_line(result.stderr)
    assert not marker.exists()

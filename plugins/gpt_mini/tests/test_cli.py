"""`genfw fit` and `genfw predict` in-process with the shipped configs and tiny sizes."""

import json
from pathlib import Path

import torch

from gen_framework.cli import main

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "gpt_mini"
TINY = [
    "--model.init_args.n_layer", "1", "--model.init_args.n_head", "2", "--model.init_args.n_embd", "16",
    "--data.init_args.block_size", "16", "--data.init_args.batch_size", "4",
    "--trainer.limit_val_batches", "2", "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false", "--trainer.logger", "false",
]


def test_fit_on_pydocs_then_predict_with_a_prompt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fit = ["fit", "--config", str(CONFIGS / "pydocs.yaml"), "--trainer.max_steps", "3",
           "--trainer.default_root_dir", str(tmp_path), "--checkpoint.dirpath", str(tmp_path / "ckpt"), *TINY]
    assert main(fit) == 0
    checkpoint = tmp_path / "ckpt" / "last.ckpt"
    hparams = torch.load(checkpoint, map_location="cpu", weights_only=False)["hyper_parameters"]
    # block_size is written once, in the data section, and reaches the model by interpolation
    assert hparams["block_size"] == 16 and hparams["vocab_size"] > 90

    out = tmp_path / "samples"
    predict = ["predict", "--ckpt_path", str(checkpoint), "--num_samples", "3", "--batch_size", "2",
               "--output_dir", str(out), "--sampling.prompt", "def ", "--sampling.max_new_tokens", "40",
               "--sampling.top_k", "10", "--trainer.enable_progress_bar", "false"]
    assert main(predict) == 0
    texts = sorted(out.glob("*.txt"))
    assert [p.name for p in texts] == ["sample_00000.txt", "sample_00001.txt", "sample_00002.txt"]
    bodies = [p.read_text(encoding="utf-8") for p in texts]
    assert all(body.startswith("def ") and len(body) == 44 for body in bodies)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sampling_options"]["prompt"] == "def " and manifest["data_spec"]["tokenizer"]["kind"] == "char"


def test_text_file_config_trains_on_a_users_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 40, encoding="utf-8")
    fit = ["fit", "--config", str(CONFIGS / "text_file.yaml"), "--data.init_args.files", str(corpus),
           "--trainer.max_steps", "2", "--trainer.default_root_dir", str(tmp_path),
           "--checkpoint.dirpath", str(tmp_path / "ckpt"), *TINY]
    assert main(fit) == 0
    hparams = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)["hyper_parameters"]
    assert hparams["block_size"] == 16 and hparams["vocab_size"] == len(set(corpus.read_text()))

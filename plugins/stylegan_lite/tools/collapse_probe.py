"""Collapse probe: trains StyleGAN-lite on the bundled MNIST digits and records, every ``--every`` steps, the
quantities that show why a GAN collapses (one JSON line per probe point on stdout).

- ``d_acc_real`` / ``d_acc_fake``: discriminator accuracy on a fresh real batch and fresh samples;
- ``out_of_range``: share of raw sample pixels outside [-1.05, 1.05];
- ``r1_norm``: mean ‖∇ₓD(x)‖ on real images (what R1 penalises);
- ``w_spread``: mean per-dimension std of w over 512 latents divided by the RMS of w (0: every z gives one w);
- ``grad_*``: gradient norms per part after the step (mapping, synthesis layers, toRGB, D blocks);
- ``img_div``: mean pairwise distance of 64 samples relative to 64 real digits;
- digit-classifier scores of 500 samples (raw generator and EMA): classes read confidently, coverage, FD ratio.

    OMP_NUM_THREADS=1 python plugins/stylegan_lite/tools/collapse_probe.py --steps 1500 --every 150 \
        --set r1_gamma=1.0 --set batch_size=32
    OMP_NUM_THREADS=1 python plugins/stylegan_lite/tools/collapse_probe.py --steps 400 --every 100 \
        --config configs/stylegan_lite/mnist.yaml --set output_activation='"linear"'
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import yaml

import pytorch_lightning as pl
import torch

from gen_framework.data import MNIST
from gen_framework.metrics.collapse import sample_diversity
from gen_framework.metrics.digits import DigitJudge
from gen_framework_stylegan_lite import StyleGANLite


def grad_norms(model: StyleGANLite) -> dict[str, float]:
    """Gradient norms per network part (the gradients the last update left behind)."""
    groups: dict[str, list[torch.Tensor]] = {}
    for name, p in model.named_parameters():
        if p.grad is None or name.startswith("ema."):
            continue
        parts = name.split(".")
        if parts[1] == "mapping":
            key = "g_mapping"
        elif parts[1] == "synthesis":
            key = "g_" + ("rgb" if "rgb" in name else "affine" if "affine" in name else
                          f"conv{parts[3]}" if parts[2] == "blocks" else "conv_in")
        else:
            key = "d_" + (f"block{parts[2]}" if parts[1] == "blocks" else parts[1])
        groups.setdefault(key, []).append(p.grad.detach().flatten())
    return {f"grad_{k}": round(float(torch.cat(v).norm()), 4) for k, v in sorted(groups.items())}


class Probe(pl.Callback):
    def __init__(self, judge: DigitJudge, real: torch.Tensor, every: int) -> None:
        self.judge, self.real, self.every = judge, real, every
        self.started = time.process_time()

    def on_train_batch_end(self, trainer: pl.Trainer, model: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every:
            return
        record: dict[str, Any] = {"step": step, "cpu_s": round(time.process_time() - self.started, 1)}
        record.update(grad_norms(model))
        real = batch[0]
        was_training = model.training
        model.eval()
        with torch.no_grad():
            fake = model.generate(model.sample_latent(real.shape[0]))
            record["d_acc_real"] = round(float((model.discriminator(real) > 0).float().mean()), 3)
            record["d_acc_fake"] = round(float((model.discriminator(fake) <= 0).float().mean()), 3)
            # Share of raw sample pixels outside the data's range [-1, 1]: a discriminator can tell those apart
            # without looking at shapes.
            record["out_of_range"] = round(float((fake.abs() > 1.05).float().mean()), 3)
            w = model.generator.mapping(model.sample_latent(512), 1)[:, 0]
            record["w_spread"] = round(float(w.std(0).mean() / w.square().mean().sqrt()), 4)
            record["img_div"] = round(float(sample_diversity(model.generate(model.sample_latent(64)),
                                                             self.real[:64])), 3)
        x = real.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model.discriminator(x).sum(), x)
        record["r1_norm"] = round(float(g.flatten(1).norm(dim=1).mean()), 4)
        with torch.no_grad():
            raw = model.generate(model.sample_latent(500, generator=torch.Generator().manual_seed(1)))
        record["raw"] = self.judge(raw).as_dict()
        record["ema"] = self.judge(model.sample(500, seed=1)).as_dict()
        model.train(was_training)
        print(json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--every", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="model option=value (batch_size for data)")
    parser.add_argument("--config", help="start from this config's model options and batch size (--set overrides)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    options: dict[str, Any] = dict(latent_dim=64, w_dim=64, mapping_layers=4, channel_base=256, channel_max=32,
                                   r1_gamma=1.0, ema_decay=0.99)
    batch_size = 32
    if args.config:
        content = yaml.safe_load(Path(args.config).read_text())
        options = {k: v for k, v in content["model"]["init_args"].items()
                   if k not in ("image_size", "channels") and not str(v).startswith("${")}
        batch_size = content["data"]["init_args"]["batch_size"]
    for item in args.set:
        key, value = item.split("=", 1)
        parsed = json.loads(value)
        if key == "batch_size":
            batch_size = parsed
        else:
            options[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    print(json.dumps({"options": options, "batch_size": batch_size, "seed": args.seed}), flush=True)
    pl.seed_everything(args.seed, verbose=False)
    data = MNIST(image_size=32, channels=1, batch_size=batch_size)
    data.setup("fit")
    real = torch.stack([data.splits.val[i][0] for i in range(500)])
    floor = torch.stack([data.splits.train[i][0] for i in range(500)])
    judge = DigitJudge(real, floor)
    print(json.dumps({"floor_fd": round(judge.floor, 2)}), flush=True)
    model = StyleGANLite(image_size=32, channels=1, **options)
    trainer = pl.Trainer(max_steps=args.steps, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0, callbacks=[Probe(judge, real, args.every)])
    trainer.fit(model, data)


if __name__ == "__main__":
    main()

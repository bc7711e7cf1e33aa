"""Reconstruction and latent-interpolation pictures of a trained VAE.

From Python, :func:`write_reconstructions` and :func:`write_interpolation` write PNG grids for any
:class:`~gen_framework.families.VariationalModule`. From the command line, this module rebuilds the model
from a ``genfw fit`` checkpoint, takes images from the validation split of a datamodule (default ``mnist``,
built at the image size and channel count the model was trained on) and writes both pictures::

    python -m gen_framework_vae.visualise --ckpt_path last --output_dir samples/vae
    python -m gen_framework_vae.visualise --ckpt_path runs/vae/version_0/checkpoints/last.ckpt \\
        --data image_folder --root path/to/photos --output_dir samples/vae_photos

It writes ``reconstructions.png`` (rows of real images, each followed by a row of their reconstructions) and
``interpolation.png`` (one row per pair of real images: the first image, ``steps`` decodings of points on
the line between their posterior means, the second image).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from torch import Tensor

from gen_framework.data.writers import save_image_grid
from gen_framework.errors import GenFrameworkError
from gen_framework.families import VariationalModule

RECONSTRUCTIONS_FILE = "reconstructions.png"
INTERPOLATION_FILE = "interpolation.png"


def write_reconstructions(
    model: VariationalModule, images: Tensor, path: str | os.PathLike[str], *, per_row: int = 8
) -> Path:
    """Write a PNG grid of ``images`` and their reconstructions from the posterior mean.

    Args:
        model: A trained VAE; its mode (train/eval) is restored afterwards.
        images: Real images ``(N, C, H, W)`` in [-1, 1] of the shape the model was built for.
        path: The PNG file to write; its folder is created if needed.
        per_row: Images per row; rows of originals alternate with rows of their reconstructions.

    Returns:
        ``path``.
    """
    images = images.to(model.device)
    reconstructions = model.reconstruct(images)
    rows = []
    for start in range(0, images.shape[0], per_row):
        rows += [images[start : start + per_row], reconstructions[start : start + per_row]]
    # A short last pair of rows is padded with black so that each reconstruction stays under its original.
    short = per_row - rows[-1].shape[0]
    if short:
        pad = -torch.ones(short, *images.shape[1:], device=images.device, dtype=images.dtype)
        rows[-2], rows[-1] = torch.cat([rows[-2], pad]), torch.cat([rows[-1], pad])
    return save_image_grid(torch.cat(rows).cpu(), path, nrow=per_row)


def write_interpolation(
    model: VariationalModule, x0: Tensor, x1: Tensor, path: str | os.PathLike[str], steps: int = 10
) -> Path:
    """Write a PNG strip decoding ``steps`` points between the posterior means of ``x0`` and ``x1``.

    Args:
        model: A trained VAE; its mode (train/eval) is restored afterwards.
        x0: First image ``(C, H, W)`` in [-1, 1], or a batch ``(P, C, H, W)`` for P strips, one per row.
        x1: Second image(s), the same shape as ``x0``.
        path: The PNG file to write; its folder is created if needed.
        steps: Decoded points per strip, >= 2 (the first and last are the two reconstructions).

    Returns:
        ``path``. Each row shows ``x0``, the ``steps`` decodings, then ``x1``.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    if x0.dim() == 3:
        x0, x1 = x0[None], x1[None]
    x0, x1 = x0.to(model.device), x1.to(model.device)
    rows = [torch.cat([a[None], model.interpolate(a, b, steps), b[None]]) for a, b in zip(x0, x1)]
    return save_image_grid(torch.cat(rows).cpu(), path, nrow=steps + 2)


def _load_images(name: str, root: str | None, spec: dict, count: int) -> Tensor:
    """The first ``count`` validation images ``(count, C, S, S)`` of datamodule ``name`` at the spec's shape."""
    from gen_framework.data import get_datamodule_class

    options = {"image_size": spec["image_size"], "channels": spec["channels"], "val_fraction": 0.1}
    if root is not None:
        options["root"] = root
    datamodule = get_datamodule_class(name)(**options)
    dataset = datamodule.splits.val
    count = min(count, len(dataset))
    return torch.stack([dataset[i][0] for i in range(count)])


def main(argv: list[str] | None = None) -> int:
    """``python -m gen_framework_vae.visualise``: write the two pictures; returns the exit code."""
    from gen_framework.persistence.checkpoint import load_checkpoint
    from gen_framework.cli.run_dirs import find_last_checkpoint

    parser = argparse.ArgumentParser(
        prog="python -m gen_framework_vae.visualise",
        description="Write reconstructions.png and interpolation.png for a VAE checkpoint.",
    )
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint written by genfw fit, or 'last'")
    parser.add_argument("--output_dir", default="samples", help="folder for the two PNG files")
    parser.add_argument("--data", default="mnist", help="datamodule short name the images come from")
    parser.add_argument("--root", default=None, help="the datamodule's root folder, for image_folder and npz")
    parser.add_argument("--runs_dir", default="runs", help="where --ckpt_path last searches")
    parser.add_argument("--num_images", type=int, default=32, help="images in the reconstruction grid")
    parser.add_argument("--pairs", type=int, default=4, help="interpolation strips (rows)")
    parser.add_argument("--steps", type=int, default=10, help="decoded points per strip")
    args = parser.parse_args(argv)
    try:
        if args.num_images < 1 or args.pairs < 1 or args.steps < 2:
            raise ValueError("need --num_images >= 1, --pairs >= 1 and --steps >= 2")
        ckpt = find_last_checkpoint(args.runs_dir) if args.ckpt_path == "last" else Path(args.ckpt_path)
        model = load_checkpoint(ckpt)
        if not isinstance(model, VariationalModule):
            raise ValueError(f"{ckpt} holds a {type(model).__name__}, not a VAE")
        spec = model.data_spec
        if spec.get("modality") != "image" or "image_size" not in spec:
            raise ValueError(f"{ckpt} has no image data spec (image_size, channels); was it written by genfw fit?")
        images = _load_images(args.data, args.root, spec, max(args.num_images, 2 * args.pairs))
        if images.shape[0] < 2:
            raise ValueError(f"the {args.data} validation split holds fewer than 2 images")
        pairs = min(args.pairs, images.shape[0] // 2)
        output = Path(args.output_dir)
        reconstructions = write_reconstructions(model, images[: args.num_images], output / RECONSTRUCTIONS_FILE)
        strips = write_interpolation(
            model, images[:pairs], images[pairs : 2 * pairs], output / INTERPOLATION_FILE, steps=args.steps
        )
    except (GenFrameworkError, ValueError) as err:
        print(f"gen_framework_vae.visualise: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {reconstructions} and {strips}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Style-mixing grids: a PNG showing how coarse styles of one latent combine with the rest of another.

Command line::

    python -m gen_framework_stylegan_lite.mixing --ckpt_path runs/stylegan_lite/version_0/checkpoints/last.ckpt \
        --output mixing/ [--rows 4] [--cols 4] [--seed 0] [--truncation_psi 0.7] [--crossover 4]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from gen_framework.data.writers import save_image_grid
from gen_framework.errors import ConfigError, GenFrameworkError
from gen_framework_stylegan_lite.model import StyleGANLite

#: File name used when ``--output`` is a folder.
GRID_NAME = "style_mixing.png"


def write_style_mixing_grid(
    model: StyleGANLite,
    path: str | os.PathLike[str],
    rows: int = 4,
    cols: int = 4,
    seed: int = 0,
    truncation_psi: float = 1.0,
    crossover: int | None = None,
) -> Path:
    """Write a ``(rows + 1) × (cols + 1)`` style-mixing grid as a PNG, using the EMA generator when there is one.

    The top row shows ``cols`` column sources, the left column ``rows`` row sources (the corner is black);
    cell (i, j) has the coarse styles of column source j (layers ``< crossover``: by default the 4×4 and 8×8
    resolutions) and the finer styles of row source i. One noise draw is shared by all images.

    Args:
        model: A StyleGAN-lite model.
        path: The PNG to write (parent folders are created).
        rows: Number of row sources, >= 1.
        cols: Number of column sources, >= 1.
        seed: Seed of the latents and the noise.
        truncation_psi: Truncation ψ of both sources.
        crossover: First layer taken from the row source, in [0, ``model.num_ws``]; ``None`` for 4.

    Returns:
        The path written; the image is ``(rows + 1)·(S + 2) + 2`` by ``(cols + 1)·(S + 2) + 2`` pixels.
    """
    if not isinstance(model, StyleGANLite):
        raise ConfigError(f"style-mixing grids need a StyleGANLite model, got {type(model).__name__}")
    if rows < 1 or cols < 1:
        raise ConfigError(f"rows and cols must be >= 1, got {rows} and {cols}")
    generator = torch.Generator(device=model.device).manual_seed(int(seed))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), model.ema_weights():
            latents = model.sample_latent(rows + cols, generator=generator)
            images = model.style_mixing_images(
                latents[:rows], latents[rows:], crossover=crossover, truncation_psi=truncation_psi,
                generator=generator,
            ).clamp(-1.0, 1.0)
    finally:
        model.train(was_training)
    row_images, col_images, cells = images[:rows], images[rows : rows + cols], images[rows + cols :]
    corner = torch.full_like(images[:1], -1.0)
    tiles = [corner, col_images]
    for i in range(rows):
        tiles += [row_images[i : i + 1], cells[i * cols : (i + 1) * cols]]
    return save_image_grid(torch.cat(tiles), path, nrow=cols + 1)


def main(argv: list[str] | None = None) -> int:
    """Command line: load a checkpoint, write a style-mixing grid; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m gen_framework_stylegan_lite.mixing", description="Write a StyleGAN-lite style-mixing grid."
    )
    parser.add_argument("--ckpt_path", required=True, help="Checkpoint written by genfw fit.")
    parser.add_argument("--output", required=True, help=f"Folder (receives {GRID_NAME}) or a .png path.")
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--cols", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truncation_psi", type=float, default=1.0)
    parser.add_argument("--crossover", type=int, default=None)
    args = parser.parse_args(argv)
    from gen_framework.persistence.checkpoint import load_checkpoint

    try:
        model = load_checkpoint(args.ckpt_path)
        output = Path(args.output)
        path = output if output.suffix.lower() == ".png" else output / GRID_NAME
        written = write_style_mixing_grid(
            model, path, rows=args.rows, cols=args.cols, seed=args.seed, truncation_psi=args.truncation_psi,
            crossover=args.crossover,
        )
    except GenFrameworkError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    print(f"style-mixing grid written to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

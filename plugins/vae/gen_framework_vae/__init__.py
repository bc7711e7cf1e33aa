"""gen-framework-vae: a convolutional VAE as a gen-framework plugin, registry name ``vae``.

Besides the model, :func:`write_reconstructions` and :func:`write_interpolation` write PNG grids of a trained
VAE's reconstructions and latent interpolations; ``python -m gen_framework_vae.visualise`` does both from a
checkpoint.
"""

from __future__ import annotations

from gen_framework.registry import PluginSpec
from gen_framework_vae.model import IMAGE_SIZES, ConvVAE, Decoder, Encoder
from gen_framework_vae.visualise import write_interpolation, write_reconstructions

PLUGIN = PluginSpec(
    name="vae",
    family="variational",
    module_class=ConvVAE,
    description="Convolutional VAE: Bernoulli or Gaussian likelihood, beta, KL warm-up, IWAE (28/32/64 px)",
    default_datamodule="mnist",
    default_config="vae/mnist.yaml",
    test_init_args={"latent_dim": 4, "image_size": 28, "channels": 1, "base_channels": 4},
    test_data_spec={"modality": "image", "channels": 1, "image_size": 28},
)

__all__ = ["IMAGE_SIZES", "PLUGIN", "ConvVAE", "Decoder", "Encoder", "write_interpolation", "write_reconstructions"]

"""StyleGAN-lite: a compact StyleGAN2 for 32×32 and 64×64 images, as a gen-framework plugin."""

from __future__ import annotations

from typing import Any

from gen_framework.registry import PluginSpec
from gen_framework_stylegan_lite.layers import modulated_conv2d
from gen_framework_stylegan_lite.model import IMAGE_SIZES, StyleGANLite

__version__ = "0.1.0"

PLUGIN = PluginSpec(
    name="stylegan_lite",
    family="adversarial",
    module_class=StyleGANLite,
    description="Compact StyleGAN2 (mapping network, modulated convolutions, style mixing) at 32 or 64 px",
    default_datamodule="photo_patches",
    default_config="stylegan_lite/photos.yaml",
    # The tiny instance: 8 channels at every resolution. With channel_base 64 the 32 px layers had
    # min(64 // 32, 8) = 2 channels, so fromRGB squeezed three colours into two features and the generator's
    # last block had two; on the kit's easy data its samples kept colour differences the data lacks (RMS 0.27
    # across channels against 0.02 at 8 channels) and no sample reached a mode. No style mixing, as in the
    # plugin's 32 px recipe (configs/stylegan_lite/mnist.yaml): mixed styles draw hybrids of two modes.
    test_init_args={
        "image_size": 32, "channels": 3, "latent_dim": 8, "w_dim": 8, "mapping_layers": 2,
        "channel_base": 256, "channel_max": 8, "style_mixing_prob": 0.0,
    },
    test_data_spec={"modality": "image", "channels": 3, "image_size": 32},
)

__all__ = ["IMAGE_SIZES", "PLUGIN", "StyleGANLite", "modulated_conv2d", "write_style_mixing_grid"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `python -m gen_framework_stylegan_lite.mixing` does not find it loaded already.
    if name == "write_style_mixing_grid":
        from gen_framework_stylegan_lite.mixing import write_style_mixing_grid

        return write_style_mixing_grid
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""An example third-party plugin: a gated PixelCNN over quantised image pixels, registry name ``pixelcnn``."""

from gen_framework.registry import PluginSpec

from gen_framework_pixelcnn.model import GatedPixelCNN

PLUGIN = PluginSpec(
    name="pixelcnn",
    family="autoregressive",
    module_class=GatedPixelCNN,
    api_version="1.0",
    description="gated PixelCNN over 4-level 8x8 greyscale images (example third-party plugin)",
    default_datamodule="digits",
    test_init_args={"image_size": 8, "hidden": 16, "layers": 3},
    test_data_spec={"modality": "image", "channels": 1, "image_size": 8},
)

__all__ = ["PLUGIN", "GatedPixelCNN"]

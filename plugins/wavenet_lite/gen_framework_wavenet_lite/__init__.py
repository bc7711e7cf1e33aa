"""gen-framework plugin ``wavenet_lite``: a small WaveNet over mu-law audio with queue-based fast generation."""

from gen_framework.registry import PluginSpec
from gen_framework_wavenet_lite.model import ResidualLayer, StepWeights, WaveNetCache, WaveNetLite

PLUGIN = PluginSpec(
    name="wavenet_lite",
    family="autoregressive",
    module_class=WaveNetLite,
    description="small WaveNet (gated dilated causal convolutions) over 8-bit mu-law audio, O(layers) generation",
    default_datamodule="melodies",
    default_config="wavenet_lite/melodies.yaml",
    test_init_args={
        "residual_channels": 8, "dilation_channels": 8, "skip_channels": 8, "layers_per_stack": 3, "stacks": 1,
    },
    test_data_spec={"modality": "audio", "sample_rate": 16000, "quantization": {"kind": "mu_law", "levels": 256}},
    # 10 ms clips keep every sampling call of the kit short
    test_sampling_options={"seconds": 0.01, "temperature": 0.9},
)

__all__ = ["PLUGIN", "ResidualLayer", "StepWeights", "WaveNetCache", "WaveNetLite"]

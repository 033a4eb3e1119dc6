"""segformer-lab: SegFormer, SETR and CNN baselines for studying why SegFormer works."""
from .checkpoints import CheckpointError, from_pretrained, load_encoder_weights, save_pretrained
from .models.common import upsample_logits
from .registry import VARIANTS, build_model, variant_config
from .version import __version__

__all__ = ["VARIANTS", "build_model", "variant_config", "upsample_logits", "from_pretrained", "save_pretrained",
           "load_encoder_weights", "CheckpointError", "__version__"]

"""segformer-lab: SegFormer, SETR and CNN baselines for studying why SegFormer works."""
from .models.common import upsample_logits
from .registry import VARIANTS, build_model, variant_config

__version__ = "0.1.0"
__all__ = ["VARIANTS", "build_model", "variant_config", "upsample_logits", "__version__"]

"""Table 1c: Mix-FFN against a positional encoding when the test resolution differs from the training one.

The same MiT-B0 encoder with Mix-FFN (released), a learned absolute PE made for the training crop (bilinearly
resized to other grids), or neither; trained on 128 px crops of the embedded world. Each trained run is
evaluated on 256x512 canvases at the same pixel scale (the paper's 768 crops vs whole 1024x2048 Cityscapes
images), with sliding 128 px windows and as whole images, on a square 384x384 canvas, and under zoom
(the same views at 0.5x and 2x the pixel density).
"""
from segformer_lab.engine import TrainConfig
from segformer_lab.runner import standard_presets

EXPERIMENT = "pe_vs_mixffn"
BASE = TrainConfig(model="segformer_b0", crop_size=128)
VARIANTS = {
    "mixffn": {"model_overrides": {"pos_encoding": "mixffn"}},
    "learned_pe": {"model_overrides": {"pos_encoding": "learned", "pe_train_size": [128, 128]}},
    "no_pe": {"model_overrides": {"pos_encoding": "none"}},
}
EVALS = {
    "slide_256x512": {"canvas": (256, 512), "mode": "slide", "crop": 128, "stride": 96},
    "whole_256x512": {"canvas": (256, 512), "mode": "whole"},
    "whole_384x384": {"canvas": (384, 384), "mode": "whole"},
    "zoom_0.5": {"canvas": (128, 128), "zoom": 0.5},
    "zoom_2": {"canvas": (128, 128), "zoom": 2.0},
}
PRESETS = standard_presets(smoke={"model": "segformer_tiny"})

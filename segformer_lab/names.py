"""Display names: one table of what every variant, model, setting and metric is called in figures, tables and
notebooks, and the colour of each model family.

`name(key)` turns an id from the CSVs (a variant, a model such as "setr_naive_vit_s8", a column such as
"gmacs_512") into the words a reader sees ("SETR-Naive", "GMACs at 512x512"). A variant id is read as an
encoder or setting (`PARTS`: the package's models, and each ablation's parts, declared in its file) followed by
qualifiers (`QUALIFIERS`), so a new combination needs no new entry; an id that matches nothing is shown as it is,
with spaces for underscores.
`family(key)` names the model family a key belongs to, and `colour(key)` gives that family's colour, the same
in every figure.
"""
from __future__ import annotations


# The package's encoders and models a variant id may start with (longest match first); each ablation declares
# the words of its own ids (`ablation.Display`), added by `declare` when its file is loaded.
PACKAGE_PARTS = {
    "mit_b0": "MiT-B0", "mit_b1": "MiT-B1", "mit_b2": "MiT-B2", "mit_b3": "MiT-B3", "mit_b4": "MiT-B4",
    "mit_b5": "MiT-B5",
    "segformer_tiny": "SegFormer-tiny",
    "segformer_b0": "SegFormer-B0", "segformer_b1": "SegFormer-B1", "segformer_b2": "SegFormer-B2",
    "segformer_b3": "SegFormer-B3", "segformer_b4": "SegFormer-B4", "segformer_b5": "SegFormer-B5",
    "resnet18_mlp": "ResNet-18 + MLP", "resnet50_mlp": "ResNet-50 + MLP", "resnet101_mlp": "ResNet-101 + MLP",
    "deeplabv3_r18": "DeepLabV3-R18", "deeplabv3_r50": "DeepLabV3-R50", "deeplabv3plus_r50": "DeepLabV3+ R50",
    "setr_naive_vit_s8": "SETR-Naive", "setr_naive": "SETR-Naive", "setr_pup_vit_l": "SETR-PUP (ViT-L)",
    "setr_pup": "SETR-PUP", "setr_mla": "SETR-MLA", "setr_naive_vit_l": "SETR-Naive (ViT-L)",
    "setr_mla_vit_l": "SETR-MLA (ViT-L)", "deeplabv3plus_r101": "DeepLabV3+ R101",
    "resnext101_mlp": "ResNeXt-101 + MLP",
}
PARTS = dict(PACKAGE_PARTS)
# Qualifiers after the part, in the order they may follow it: how an encoder started, and the scene family.
QUALIFIERS = {"pretrained": "pretrained", "scratch": "from scratch", "shared": "shared recipe",
              "street": "street", "aerial": "aerial"}
PATTERNS = []  # ids with a number in them: (compiled regex, function of its match), declared by the ablations
# Metrics and columns: axis labels with their units.
METRICS = {
    "miou": "mIoU (%)", "thing_miou": "thing mIoU (%)", "stuff_miou": "stuff mIoU (%)",
    "boundary_miou": "boundary mIoU (%)", "macc": "mean accuracy (%)", "aacc": "pixel accuracy (%)",
    "corrupted_miou": "corrupted mIoU (%)", "relative": "corrupted / clean mIoU",
    "params": "parameters (M)", "gflops": "GFLOPs at 128x128 (2 per MAC)", "gmacs": "GMACs at the 128x128 crop",
    "gmacs_512": "GMACs at 512x512", "attention_gmacs_512": "attention GMACs at 512x512",
    "attention_gmacs_measured": "attention GMACs", "total_gmacs": "GMACs", "peak_mem_mb": "peak memory (MiB)",
    "latency_ms": "CPU latency (ms)", "train_seconds": "training time (s)", "iteration": "iteration",
    "severity": "severity", "loss": "training loss", "IoU": "IoU (%)",
    "encoder": "encoder", "init": "encoder weights", "variant": "variant",
}
# Settings and other values shown as categories (each ablation declares its own).
SETTINGS: dict = {}
# Model families and their colours (indices into seaborn's colour-blind palette), the same in every figure.
FAMILIES = {"MiT": 0, "ResNet": 1, "DeepLab": 2, "SETR": 3, "paper": 7}
FAMILY_PREFIXES = (("resnet", "ResNet"), ("resnext", "ResNet"), ("deeplab", "DeepLab"), ("setr", "SETR"), ("paper", "paper"))


def declare(display) -> None:
    """Add an ablation's display names (an `ablation.Display`: variant parts, qualifiers, settings, patterns) to
    the tables; an id already named keeps its first name."""
    for table, new in ((PARTS, display.parts), (QUALIFIERS, display.qualifiers), (SETTINGS, display.settings)):
        for key, words in new.items():
            table.setdefault(key, words)
    PATTERNS.extend(p for p in display.patterns if p not in PATTERNS)


def name(key) -> str:
    """The display name of a variant, model, setting or metric id (see the module's docstring)."""
    key = str(key)
    for table in (METRICS, SETTINGS):
        if key in table:
            return table[key]
    for pattern, build in PATTERNS:
        match = pattern.match(key)
        if match and (not match.groups() or match[1] != key):
            return build(match)
    for part in sorted(PARTS, key=len, reverse=True):
        if key == part:
            return PARTS[part]
        if key.startswith(part + "_"):
            rest = key[len(part) + 1:].split("_")
            if all(q in QUALIFIERS for q in rest):
                return ", ".join([PARTS[part]] + [QUALIFIERS[q] for q in rest])
    return key.replace("_", " ")


def names(keys) -> dict:
    """{key: display name} of several keys, in their order."""
    return {k: name(k) for k in keys}


def family(key) -> str:
    """The model family of a variant or model id: "ResNet", "DeepLab", "SETR", or "MiT" (SegFormer's encoder and
    every setting of it, the default)."""
    key = str(key).lower()
    for prefix, fam in FAMILY_PREFIXES:
        if key.startswith(prefix):
            return fam
    return "MiT"


def colour(key, shade: int = 0, shades: int = 1) -> tuple:
    """The RGB colour of a key's family; with `shades` > 1 the members of one family get shades of it from lighter
    (`shade` 0) to darker (`shades` - 1), so that a figure of MiT settings stays MiT's colour."""
    import seaborn as sns
    base = sns.color_palette("colorblind", 10)[FAMILIES[family(key)]]
    if shades <= 1:
        return base
    amount = -0.35 + 0.8 * shade / (shades - 1)  # < 0: towards white, > 0: towards black
    return tuple(c + (1 - c) * -amount if amount < 0 else c * (1 - amount) for c in base)


def colours(keys) -> dict:
    """{key: colour}: each family's colour, in shades where a family has several keys."""
    keys = list(dict.fromkeys(keys))
    by_family: dict = {}
    for k in keys:
        by_family.setdefault(family(k), []).append(k)
    return {k: colour(k, members.index(k), len(members)) for members in by_family.values() for k in members}

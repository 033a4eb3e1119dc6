"""Datasets and transforms: the embedded benchmark (synthetic), real datasets in their standard layouts."""
from .real import ADE20K, Cityscapes, DatasetError, FolderDataset, open_dataset
from .synthetic import CLASSES, PALETTE, THING_CLASSES, Scene, SyntheticScenes, WorldConfig

__all__ = ["ADE20K", "Cityscapes", "FolderDataset", "DatasetError", "open_dataset", "SyntheticScenes", "Scene",
           "WorldConfig", "CLASSES", "PALETTE", "THING_CLASSES"]

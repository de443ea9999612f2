"""Datasets: importing this package registers the built-in loaders (``digits-dg``, ``folder``)."""

from trustlab.data import digits_dg, folder  # noqa: F401  (registers with DATASETS)
from trustlab.data.base import SPLITS, DGData, TensorImageDataset

__all__ = ["SPLITS", "DGData", "TensorImageDataset"]

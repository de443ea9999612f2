"""Datasets: importing this package registers the built-in loaders (``digits-dg``, ``folder``,
``mnist5k``, ``fashion-mnist``); method packages register their own (``dosco``, ``distilled``, ...)."""

from trustlab.data import digits_dg, folder, mnist  # noqa: F401  (registers with DATASETS)
from trustlab.data.base import SPLITS, DGData, TensorImageDataset

__all__ = ["SPLITS", "DGData", "TensorImageDataset"]

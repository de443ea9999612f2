"""Datasets: importing this package registers the built-in loaders (``digits-dg``, ``folder``,
``mnist5k``, ``fashion-mnist``, the paper suite's readers ``tv-*``, ``dassl``, ``openood-*``); method packages
register their own (``dosco``, ``distilled``, ...)."""

from trustlab.data import dassl_splits, digits_dg, folder, mnist, openood_lists, torchvision_sets  # noqa: F401
from trustlab.data.base import SPLITS, DGData, TensorImageDataset

__all__ = ["SPLITS", "DGData", "TensorImageDataset"]

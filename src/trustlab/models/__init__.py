"""Backbones as :class:`Classifier` wrappers: tiny CNNs, torchvision, timm by name.

``build_model(name, num_classes, input_size=32, width=1.0, in_chans=3, weights=None, **options)``
returns a model that takes [0, 1] images, normalises inside, and exposes
``forward(x, return_features=False)`` and ``classifier()`` (DEVELOPERS.md, "APIs to build on").
Importing this package registers ``small_cnn``, ``mobilenet_v3_small``, ``resnet18``, ``vit``, ``vit_moe``, ``mlp``
and ``googlenet`` in MODELS (``trustlab list models``).
"""

from trustlab.models import convnet, moe, paper_models, torchvision_models, vit  # noqa: F401  (register the models)
from trustlab.models.base import Classifier
from trustlab.models.complexity import count_macs, count_parameters, model_table
from trustlab.models.registry import build_model, load_weights

__all__ = ["Classifier", "build_model", "count_macs", "count_parameters", "load_weights", "model_table"]

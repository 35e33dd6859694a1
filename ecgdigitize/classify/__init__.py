"""PTB-XL diagnostic superclass classifier (ONNX inference; training in :mod:`.train`).

- :func:`classify` gives the probabilities of NORM, MI, STTC, CD and HYP for a 12-lead signal
  (NaN gaps allowed, e.g. a digitized 3x4 sheet); :func:`classify_file` does the same for a WFDB
  record or an ECG image.
- :data:`CLASSES` is the order of the classes.

The shipped weights and their model card are in ``ecgdigitize/classify/weights/``.

This package is callable: ``ecgdigitize.classify(signal, fs, lead_names)`` calls
:func:`classify` whether ``ecgdigitize.classify`` resolves to this package (once it has been
imported, Python binds the package to that name) or to the function (lazy top-level API).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .model import CLASSES, classify, classify_file, default_thresholds

__all__ = ["CLASSES", "classify", "classify_file", "default_thresholds"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        return classify(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

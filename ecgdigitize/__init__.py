"""ecgdigitize: paper 12-lead ECGs back into digital signals.

The public API is imported lazily so that ``import ecgdigitize`` stays fast:

- :func:`render` draws a paper ECG sheet (with ground truth) from a signal.
- :mod:`ecgdigitize.metrics` scores an estimate against a reference (PhysioNet 2024 metrics).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .config import (
    LEAD_NAMES,
    Degradations,
    DigitizeOptions,
    Layout,
    LeadPanel,
    RenderOptions,
    get_layout,
)
from .errors import (
    EcgDigitizeError,
    GridNotFoundError,
    ImageReadError,
    LayoutError,
    ModelError,
    RecordError,
    TraceNotFoundError,
)

_LAZY = {
    "digitize": ("ecgdigitize.pipeline", "digitize"),
    "digitize_file": ("ecgdigitize.pipeline", "digitize_file"),
    "Digitization": ("ecgdigitize.digitization", "Digitization"),
    "render": ("ecgdigitize.render", "render"),
    "render_record": ("ecgdigitize.render", "render_record"),
    "RenderedSheet": ("ecgdigitize.render", "RenderedSheet"),
    "metrics": ("ecgdigitize.metrics", None),
    "classify": ("ecgdigitize.classify", "classify"),
    "run_batch": ("ecgdigitize.batch", "run_batch"),
}

__all__ = [
    "LEAD_NAMES",
    "Degradations",
    "DigitizeOptions",
    "EcgDigitizeError",
    "GridNotFoundError",
    "ImageReadError",
    "Layout",
    "LayoutError",
    "LeadPanel",
    "ModelError",
    "RecordError",
    "RenderOptions",
    "TraceNotFoundError",
    "__version__",
    "get_layout",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        # Importing a submodule binds it as a package attribute; where a function has the
        # submodule's name (``render``), put the function back.
        for other, (other_module, other_attr) in _LAZY.items():
            if other_module == module and other_attr is not None:
                globals()[other] = getattr(mod, other_attr)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'ecgdigitize' has no attribute {name!r}")

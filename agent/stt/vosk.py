"""Vosk (Kaldi) streaming recognition.

The model is a Vosk model directory or a ``.zip`` of one (as published on the
Vosk model page, e.g. ``vosk-model-small-en-us-0.15.zip``).  A zip is
unpacked once into the cache (``$SIP_AGENT_CACHE``, else
``$XDG_CACHE_HOME/sip-agent``, else ``~/.cache/sip-agent``) under
``vosk/<zip name>`` and reused while the zip's size and time stay the same.

The model loads once per process; each stream owns a ``KaldiRecognizer``
(~0.1 s to build).  Vosk's native calls release the GIL.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from agent.errors import ModelError
from agent.frames import SAMPLE_RATE
from agent.stt.base import PARTIAL_EVERY_MS, IncrementalStream, SttEngine

__all__ = ["MODEL_FLAG", "VoskEngine", "VoskStream", "cache_dir", "resolve_vosk_model"]

log = logging.getLogger(__name__)

MODEL_FLAG = "--vosk-model"
_FIX = f"give {MODEL_FLAG} DIR or ZIP of a Vosk model, e.g. vosk-model-small-en-us-0.15"
_STAMP = ".sip-agent-unpacked"


def cache_dir() -> Path:
    """The agent's cache directory (not created here)."""
    explicit = os.environ.get("SIP_AGENT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sip-agent"


def _looks_like_model(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()


def _model_root(path: Path, shown: Path) -> Path:
    """``path`` or its single model subdirectory (zips usually hold one folder)."""
    if _looks_like_model(path):
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and _looks_like_model(p)]
    if len(subdirs) == 1:
        return subdirs[0]
    raise ModelError(f"Not a Vosk model (no am/final.mdl): {shown} ({_FIX})")


def _unpack(zip_path: Path, target: Path) -> None:
    """Extract ``zip_path`` into ``target`` atomically (temp dir, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.namelist():
                if not (tmp / member).resolve().is_relative_to(tmp.resolve()):
                    raise ModelError(f"Vosk model zip has unsafe paths: {zip_path} ({_FIX})")
            archive.extractall(tmp)
        stat = zip_path.stat()
        (tmp / _STAMP).write_text(f"{stat.st_size} {stat.st_mtime_ns}\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"Vosk model zip cannot be unpacked: {zip_path} ({exc}; {_FIX})") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _unpacked_zip(zip_path: Path, cache: Path | None) -> Path:
    stat = zip_path.stat()
    target = (cache or cache_dir()) / "vosk" / zip_path.name.removesuffix(".zip")
    stamp = target / _STAMP
    want = f"{stat.st_size} {stat.st_mtime_ns}"
    if not (stamp.is_file() and stamp.read_text().strip() == want):
        log.info("unpacking Vosk model %s into %s", zip_path, target)
        _unpack(zip_path, target)
    return target


def resolve_vosk_model(model: str | None, cache: Path | None = None) -> Path:
    """The model directory for ``model`` (a directory or a zip, unpacked once)."""
    if not model:
        raise ModelError(f"Vosk needs a model ({_FIX})")
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelError(f"Vosk model not found: {path} ({_FIX})")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise ModelError(f"Vosk model is neither a directory nor a zip: {path} ({_FIX})")
        return _model_root(_unpacked_zip(path, cache), shown=path)
    return _model_root(path, shown=path)


class VoskEngine(SttEngine):
    """One loaded ``vosk.Model``; a ``KaldiRecognizer`` per stream."""

    name = "vosk"

    def __init__(
        self,
        model: str | None = None,
        partial_every_ms: int = PARTIAL_EVERY_MS,
        cache: Path | None = None,
    ) -> None:
        self.model_path = resolve_vosk_model(model, cache)
        try:
            import vosk
        except ImportError as exc:
            raise ModelError(f"vosk is not installed ({exc}); pip install vosk") from exc
        vosk.SetLogLevel(-1)
        self._vosk: Any = vosk
        try:
            self._model: Any = vosk.Model(str(self.model_path))
        except Exception as exc:  # vosk raises a bare Exception
            msg = f"Vosk model cannot be loaded: {self.model_path} ({exc}; {_FIX})"
            raise ModelError(msg) from exc
        self._partial_every_ms = partial_every_ms
        log.info("Vosk model loaded from %s", self.model_path)

    def new_stream(self) -> VoskStream:
        recognizer = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        return VoskStream(recognizer, self._partial_every_ms)

    def close(self) -> None:
        self._model = None


class VoskStream(IncrementalStream):
    """Feeds a ``KaldiRecognizer``; keeps text Vosk finalised on its own."""

    def __init__(self, recognizer: Any, partial_every_ms: int) -> None:
        super().__init__(partial_every_ms=partial_every_ms)
        self._rec: Any = recognizer
        self._committed: list[str] = []

    def _feed(self, pcm: bytes) -> None:
        if self._rec.AcceptWaveform(pcm):
            # Vosk's own endpointer closed a segment: keep its text.
            text = json.loads(self._rec.Result()).get("text", "")
            if text:
                self._committed.append(text)

    def _joined(self, tail: str) -> str:
        return " ".join([*self._committed, tail]).strip()

    def _partial_text(self) -> str:
        return self._joined(json.loads(self._rec.PartialResult()).get("partial", ""))

    def _final_text(self) -> str:
        text = self._joined(json.loads(self._rec.FinalResult()).get("text", ""))
        self._committed = []
        return text

    def _discard(self) -> None:
        self._rec.Reset()
        self._committed = []

    def close(self) -> None:
        super().close()
        self._rec = None

"""PocketSphinx streaming recognition (the offline default).

The pip wheel ships a US-English acoustic model, language model and
dictionary, so this engine works with no model argument.  A custom model is a
directory holding an acoustic model folder (with ``mdef``), one language
model (``*.lm.bin``, ``*.lm`` or ``*.arpa``) and one ``*.dict``.

Measured facts that shape this module:

* A ``Decoder`` takes 0.4-0.9 s and ~90 MB to build and there is no way to
  share its model between decoders, so the engine keeps a pool: a stream
  takes an idle decoder and :meth:`PocketsphinxStream.close` gives it back.
* The default second pass (``fwdflat``) makes ``end_utt`` grow with the
  utterance (65 ms for 1.8 s of speech, 620 ms for 14.6 s), so it is off:
  similar word accuracy.  The ``bestpath`` pass also grows with it (~3 ms
  per second of speech: 65-95 ms at 26 s) and stays on: without it
  ``end_utt`` is a flat 10-12 ms and the word error rate on 540 words of
  Piper speech was about the same (22.6 % vs 22.2 %), but short commands
  suffered ("give me the middle sized answer" -> "give me the metal size
  cancer", "long answer" -> "along answer").
* Cepstral-mean normalisation adapts across utterances; a pooled decoder
  gets the initial mean back for each new call.
* The Python binding does not release the GIL, so audio is fed in 20 ms
  pieces (~3 ms of decoding each).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from agent.errors import ModelError
from agent.frames import SAMPLE_RATE
from agent.stt.base import PARTIAL_EVERY_MS, IncrementalStream, SttEngine

__all__ = ["MODEL_FLAG", "PocketsphinxEngine", "PocketsphinxStream"]

log = logging.getLogger(__name__)

MODEL_FLAG = "--pocketsphinx-model"
_FIX = (
    f"give {MODEL_FLAG} DIR holding an acoustic model folder, a .lm.bin and a .dict, "
    "or no model for the built-in en-us"
)


def _find_model_files(model_dir: Path) -> dict[str, str]:
    """The ``hmm``/``lm``/``dict`` paths inside a custom model directory."""
    if not model_dir.is_dir():
        raise ModelError(f"PocketSphinx model not found: {model_dir} ({_FIX})")
    hmm_dirs = [p.parent for p in sorted(model_dir.rglob("mdef"))]
    lms = [
        p
        for pattern in ("*.lm.bin", "*.lm", "*.arpa")
        for p in sorted(model_dir.rglob(pattern))
        if "phone" not in p.name
    ]
    dicts = sorted(model_dir.rglob("*.dict"))
    if not hmm_dirs or not lms or not dicts:
        raise ModelError(f"PocketSphinx model incomplete: {model_dir} ({_FIX})")
    return {"hmm": str(hmm_dirs[0]), "lm": str(lms[0]), "dict": str(dicts[0])}


class PocketsphinxEngine(SttEngine):
    """Builds and pools ``pocketsphinx.Decoder`` objects for streams."""

    name = "pocketsphinx"

    def __init__(
        self,
        model: str | None = None,
        partial_every_ms: int = PARTIAL_EVERY_MS,
        second_pass: bool = False,
        bestpath: bool = True,
    ) -> None:
        try:
            import pocketsphinx
        except ImportError as exc:  # pragma: no cover - dependency of the package
            msg = f"pocketsphinx is not installed ({exc}); pip install pocketsphinx"
            raise ModelError(msg) from exc
        self._ps: Any = pocketsphinx
        self.model_path = str(Path(model).expanduser()) if model else pocketsphinx.get_model_path()
        self._config: dict[str, Any] = {
            "samprate": SAMPLE_RATE,
            "loglevel": "FATAL",
            "fwdflat": second_pass,
            "bestpath": bestpath,
        }
        if model:
            self._config.update(_find_model_files(Path(self.model_path)))
        self._partial_every_ms = partial_every_ms
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        first = self._new_decoder()
        self._initial_cmn: str = first.get_cmn()
        self._idle.append(first)
        log.info("pocketsphinx loaded from %s", self.model_path)

    def _new_decoder(self) -> Any:
        try:
            return self._ps.Decoder(**self._config)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"PocketSphinx model cannot be loaded: {self.model_path} ({exc}; {_FIX})"
            ) from exc

    def prewarm(self, n_decoders: int) -> None:
        """Build idle decoders up front so the next ``n_decoders`` calls start at once."""
        with self._lock:
            missing = n_decoders - len(self._idle)
        for _ in range(missing):
            decoder = self._new_decoder()
            with self._lock:
                self._idle.append(decoder)

    @property
    def idle_decoders(self) -> int:
        with self._lock:
            return len(self._idle)

    def new_stream(self) -> PocketsphinxStream:
        """A stream with a pooled decoder (building one takes ~0.5 s if none is idle)."""
        with self._lock:
            decoder = self._idle.pop() if self._idle else None
        if decoder is None:
            decoder = self._new_decoder()
        # Each call starts from the same channel estimate, then adapts to its line.
        decoder.set_cmn(self._initial_cmn)
        return PocketsphinxStream(self, decoder, self._partial_every_ms)

    def _give_back(self, decoder: Any) -> None:
        with self._lock:
            self._idle.append(decoder)

    def close(self) -> None:
        with self._lock:
            self._idle.clear()


class PocketsphinxStream(IncrementalStream):
    """One utterance at a time on a pooled decoder (start_utt ... end_utt)."""

    def __init__(self, engine: PocketsphinxEngine, decoder: Any, partial_every_ms: int) -> None:
        super().__init__(partial_every_ms=partial_every_ms)
        self._engine = engine
        self._decoder: Any = decoder
        self._in_utt = False

    def _feed(self, pcm: bytes) -> None:
        if self._decoder is None:
            raise RuntimeError("PocketsphinxStream used after close()")
        if not self._in_utt:
            self._decoder.start_utt()
            self._in_utt = True
        self._decoder.process_raw(pcm, False, False)

    def _hyp_text(self) -> str:
        hyp = self._decoder.hyp()
        return str(hyp.hypstr).strip() if hyp is not None else ""

    def _partial_text(self) -> str:
        return self._hyp_text()

    def _final_text(self) -> str:
        if not self._in_utt:
            return ""
        self._decoder.end_utt()
        self._in_utt = False
        return self._hyp_text()

    def _discard(self) -> None:
        if self._in_utt:
            self._decoder.end_utt()
            self._in_utt = False

    def close(self) -> None:
        if self._decoder is None:
            return
        self.reset()
        decoder, self._decoder = self._decoder, None
        self._engine._give_back(decoder)

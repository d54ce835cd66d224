"""The human speech corpus: every file pinned and licensed, enough speakers, pauses and numbers; the scoring."""

from __future__ import annotations

import hashlib

from agent.tools.bench.human import HUMAN_DIR, PAUSE_SECS, alignment, load_recordings, telephone

ALLOWED = {"CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "PD", "MIT", "BSD-2-Clause"}


def test_the_corpus_is_real_people_enough_of_them_and_every_file_pinned() -> None:
    recordings = load_recordings()
    assert len(recordings) >= 150
    speakers = {r.speaker for r in recordings}
    assert len(speakers) >= 15
    assert max(sum(r.speaker == s for r in recordings) for s in speakers) <= 0.2 * len(recordings)
    assert sum(r.pause_secs >= PAUSE_SECS and not r.constructed for r in recordings) >= 20
    assert sum(r.number for r in recordings) >= 20
    for rec in recordings:
        assert rec.licence in ALLOWED, rec
        assert rec.transcript.strip(), rec
        assert hashlib.sha256(rec.path.read_bytes()).hexdigest() == rec.sha256, rec.id
    licences = (HUMAN_DIR / "LICENSES.md").read_text()
    for name in ["LibriSpeech", "Free Spoken Digit Dataset", "LJ Speech", "Common Voice"]:
        assert name in licences


def test_a_recording_decodes_to_16_khz_and_through_pcmu() -> None:
    rec = next(r for r in load_recordings() if r.id.startswith("jfk"))
    audio = rec.audio()
    assert 10.5 < len(audio) / 16000 < 11.5 and audio.dtype.name == "int16"
    assert len(telephone(audio, "PCMU")) == len(audio)


def test_alignment_counts_errors_and_deletions() -> None:
    assert alignment("a b c d".split(), "a b c d".split()) == (0, 0)
    assert alignment("a b c d".split(), "a c d".split()) == (1, 1)
    assert alignment("a b c d".split(), "a x c d e".split()) == (2, 0)
    assert alignment("a b".split(), []) == (2, 2)

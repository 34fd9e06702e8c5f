"""Downloadable speech models: where they come from, how they are checked, and fetching them.

Only the Vosk English model is downloaded; PocketSphinx's English model ships inside its wheel.

Checksums. ``vosk-model-small-en-us-0.15.zip`` is 41,205,931 bytes: the size published in the official
model list (https://alphacephei.com/vosk/models/model-list.json, field ``size``). The official list
also carries an md5, which could not be read from this (offline) machine, so the archive is checked by
SHA-256 ``30f26242...942498`` instead: the same value is recorded, for the same official URL, by
several independent projects' model catalogues and by the Git LFS pointer of the Rhasspy mirror of the
file (huggingface.co/rhasspy/vosk-models, ``en/vosk-model-small-en-us-0.15.zip``, size 41205931). It
has not been computed here from a download. A mismatch fails the fetch and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = [
    "MODELS",
    "ModelFetchError",
    "ModelSpec",
    "default_models_dir",
    "default_vosk_model_path",
    "fetch",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ModelSpec:
    """A model archive: its folder name once unzipped, URL, exact size and checksum(s)."""

    name: str
    url: str
    size_bytes: int | None = None
    sha256: str | None = None
    md5: str | None = None
    license: str = ""


MODELS: dict[str, ModelSpec] = {
    "vosk-en": ModelSpec(
        name="vosk-model-small-en-us-0.15",
        url="https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        size_bytes=41_205_931,
        sha256="30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        license="Apache-2.0",
    ),
}


class ModelFetchError(RuntimeError):
    """A model that could not be downloaded, verified or unpacked; the message says what to do."""


def default_models_dir() -> Path:
    """``$VOICEBOT_MODELS_DIR`` or ``models/`` (relative to the working directory, the project root)."""
    configured = os.environ.get("VOICEBOT_MODELS_DIR")
    return Path(configured) if configured else Path("models")


def default_vosk_model_path() -> Path:
    """Where ``voicebot models fetch vosk-en`` puts the English Vosk model."""
    return default_models_dir() / MODELS["vosk-en"].name


def fetch(
    name: str | ModelSpec,
    dest_dir: Path,
    *,
    progress: Progress | None = None,
    url_override: str | None = None,
    timeout: float = 30.0,
    force: bool = False,
) -> Path:
    """Download, verify and unzip a model into ``dest_dir``; returns the model's folder.

    ``name`` is a key of :data:`MODELS` (or a :class:`ModelSpec`). The archive is streamed to a temporary
    file in ``dest_dir`` (``progress(done, total)`` after every chunk; ``total`` is 0 when unknown),
    checked against the size and checksums, unpacked into a temporary folder and renamed into place,
    so an interrupted or corrupt download never leaves a half model behind. A model folder that is
    already there is returned as is unless ``force``.
    """
    spec = MODELS[name] if isinstance(name, str) else name
    url = url_override or spec.url
    dest_dir = Path(dest_dir)
    target = dest_dir / spec.name
    if target.is_dir() and not force:
        log.info("model %s is already installed at %s", spec.name, target)
        return target
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelFetchError(f"cannot create {dest_dir}: {exc}") from exc
    archive = Path(tempfile.mkstemp(dir=dest_dir, prefix=f".{spec.name}-", suffix=".zip.part")[1])
    try:
        started = time.perf_counter()
        size, digests = _download(spec, url, archive, progress, timeout, dest_dir)
        log.info("downloaded %s (%d bytes) in %.1f s", url, size, time.perf_counter() - started)
        _verify(spec, url, size, digests)
        return _install(spec, archive, dest_dir, target, force)
    finally:
        archive.unlink(missing_ok=True)


def _offline_hint(spec: ModelSpec, url: str, reason: object, dest_dir: Path) -> ModelFetchError:
    return ModelFetchError(
        f"cannot download {spec.name} from {url}: {reason}. This machine may be offline: download it "
        f"elsewhere and unzip it into {dest_dir}/"
    )


def _download(spec: ModelSpec, url: str, archive: Path, progress: Progress | None, timeout: float,
              dest_dir: Path) -> tuple[int, dict[str, str]]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    done = 0
    request = urllib.request.Request(url, headers={"User-Agent": "voicebot-models/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, archive.open("wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else (spec.size_bytes or 0)
            if progress is not None:
                progress(0, total)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                sha256.update(chunk)
                md5.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        raise ModelFetchError(f"cannot download {spec.name} from {url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _offline_hint(spec, url, exc.reason, dest_dir) from exc
    except (TimeoutError, ConnectionError) as exc:
        raise _offline_hint(spec, url, exc, dest_dir) from exc
    except OSError as exc:
        raise ModelFetchError(f"cannot download {spec.name} from {url}: {exc}") from exc
    return done, {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def _verify(spec: ModelSpec, url: str, size: int, digests: dict[str, str]) -> None:
    if spec.size_bytes is not None and size != spec.size_bytes:
        raise ModelFetchError(f"download of {spec.name} from {url} is {size} bytes, expected {spec.size_bytes}: "
                              "the file is truncated or not the published model; nothing was installed")
    for algorithm, expected in (("sha256", spec.sha256), ("md5", spec.md5)):
        if expected is not None and digests[algorithm] != expected.lower():
            raise ModelFetchError(f"checksum mismatch for {spec.name} from {url}: {algorithm} is "
                                  f"{digests[algorithm]}, expected {expected}; nothing was installed")
    if spec.sha256 is None and spec.md5 is None:
        log.warning("model %s has no published checksum: verified by size only", spec.name)


def _install(spec: ModelSpec, archive: Path, dest_dir: Path, target: Path, force: bool) -> Path:
    staging = Path(tempfile.mkdtemp(dir=dest_dir, prefix=f".{spec.name}-"))
    try:
        try:
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.infolist():
                    parts = PurePosixPath(member.filename).parts
                    if member.filename.startswith("/") or ".." in parts:
                        raise ModelFetchError(f"{spec.name}: unsafe path {member.filename!r} in the archive")
                zipped.extractall(staging)
        except zipfile.BadZipFile as exc:
            raise ModelFetchError(f"{spec.name}: the download is not a zip archive ({exc})") from exc
        entries = [p for p in staging.iterdir() if p.name != "__MACOSX"]
        # Official archives hold one folder named like the model; a flat archive is the model itself.
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        if force and target.exists():
            shutil.rmtree(target)
        try:
            os.replace(root, target)
        except OSError as exc:
            raise ModelFetchError(f"cannot install {spec.name} into {target}: {exc}") from exc
        log.info("installed %s at %s", spec.name, target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)

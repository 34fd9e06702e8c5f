"""Model download: a generated zip served by a local http.server; nothing but 127.0.0.1 is contacted."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from voicebot.asr.models import MODELS, ModelFetchError, ModelSpec, default_vosk_model_path, fetch
from voicebot.asr.vosk_engine import is_vosk_model

NAME = "vosk-model-test-0.1"


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


MODEL_FILES = {f"{NAME}/am/final.mdl": b"not a real model", f"{NAME}/conf/model.conf": b"--beam=10\n",
               f"{NAME}/README": b"test model\n"}
ARCHIVE = make_zip(MODEL_FILES)


def spec_for(data: bytes, **changes: Any) -> ModelSpec:
    fields: dict[str, Any] = {"name": NAME, "url": "http://127.0.0.1:9/unused.zip", "size_bytes": len(data),
                              "sha256": hashlib.sha256(data).hexdigest()}
    fields.update(changes)
    return ModelSpec(**fields)


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection that is not to 127.0.0.1, whatever the code under test does."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"test tried to contact {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, bytes]]]:
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_verify_and_unzip(server: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    base, files = server
    files["/model.zip"] = ARCHIVE
    calls: list[tuple[int, int]] = []
    dest = tmp_path / "models"
    path = fetch(spec_for(ARCHIVE), dest, progress=lambda done, total: calls.append((done, total)),
                 url_override=f"{base}/model.zip")
    assert path == dest / NAME
    assert (path / "am" / "final.mdl").read_bytes() == b"not a real model"
    assert is_vosk_model(path)
    assert leftovers(dest) == [NAME]  # no temporary file or folder left
    assert calls[0] == (0, len(ARCHIVE)) and calls[-1] == (len(ARCHIVE), len(ARCHIVE))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    # Installed already: returned as is, nothing is downloaded.
    assert fetch(spec_for(ARCHIVE), dest, url_override=f"{base}/gone.zip") == path


def test_a_flat_archive_is_unpacked_into_the_model_folder(server: tuple[str, dict[str, bytes]],
                                                          tmp_path: Path) -> None:
    base, files = server
    flat = make_zip({"am/final.mdl": b"x", "conf/model.conf": b"y"})
    files["/flat.zip"] = flat
    path = fetch(spec_for(flat), tmp_path, url_override=f"{base}/flat.zip")
    assert path == tmp_path / NAME and (path / "am" / "final.mdl").is_file()
    assert leftovers(tmp_path) == [NAME]


def test_checksum_mismatch_leaves_nothing_behind(server: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    base, files = server
    files["/model.zip"] = ARCHIVE
    with pytest.raises(ModelFetchError, match=r"checksum mismatch for vosk-model-test-0.1 .*nothing was installed"):
        fetch(spec_for(ARCHIVE, sha256="0" * 64), tmp_path, url_override=f"{base}/model.zip")
    assert leftovers(tmp_path) == []
    with pytest.raises(ModelFetchError, match=f"is {len(ARCHIVE)} bytes, expected 10"):
        fetch(spec_for(ARCHIVE, size_bytes=10), tmp_path, url_override=f"{base}/model.zip")
    assert leftovers(tmp_path) == []


def test_the_real_vosk_spec_rejects_a_file_that_is_not_the_published_model(
        server: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    base, files = server
    files["/vosk.zip"] = ARCHIVE
    with pytest.raises(ModelFetchError, match=r"vosk-model-small-en-us-0\.15"):
        fetch("vosk-en", tmp_path, url_override=f"{base}/vosk.zip")
    assert leftovers(tmp_path) == []


def test_connection_refused_says_the_machine_may_be_offline(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/vosk-model-small-en-us-0.15.zip"
    with pytest.raises(ModelFetchError) as failure:
        fetch("vosk-en", tmp_path / "models", url_override=url)
    message = str(failure.value)
    assert message.startswith(f"cannot download vosk-model-small-en-us-0.15 from {url}: ")
    assert "refused" in message.lower()
    assert message.endswith(f"This machine may be offline: download it elsewhere and unzip it into "
                            f"{tmp_path / 'models'}/")
    assert leftovers(tmp_path / "models") == []


def test_http_errors_and_broken_archives(server: tuple[str, dict[str, bytes]], tmp_path: Path) -> None:
    base, files = server
    with pytest.raises(ModelFetchError, match="HTTP 404"):
        fetch(spec_for(ARCHIVE), tmp_path, url_override=f"{base}/missing.zip")
    junk = b"this is not a zip file"
    files["/junk.zip"] = junk
    with pytest.raises(ModelFetchError, match="not a zip archive"):
        fetch(spec_for(junk), tmp_path, url_override=f"{base}/junk.zip")
    evil = make_zip({"../escape.txt": b"x"})
    files["/evil.zip"] = evil
    with pytest.raises(ModelFetchError, match="unsafe path"):
        fetch(spec_for(evil), tmp_path / "models", url_override=f"{base}/evil.zip")
    assert leftovers(tmp_path) == ["models"] and leftovers(tmp_path / "models") == []


def test_the_published_vosk_model() -> None:
    spec = MODELS["vosk-en"]
    assert spec.name == "vosk-model-small-en-us-0.15"
    assert spec.url == "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip"
    assert spec.size_bytes == 41_205_931
    assert spec.sha256 is not None and len(spec.sha256) == 64
    assert default_vosk_model_path().name == spec.name

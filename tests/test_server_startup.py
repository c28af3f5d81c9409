"""Start-up on stdio: `initialize` answered from the cache on the next start, once, while pygls
still initializes from the same message.

The end-to-end tests use the raw client of the benchmarks (tests/benchmarks/lsp_client.py):
it keeps every response as it arrived, where pytest-lsp's client would convert them and only
log a second answer to the same request.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from pathlib import Path
from typing import Any

import pytest

from server import initialize_cache
from server.initialize_cache import KEPT, FirstInitialize, build_identity, cache_file, load, store
from server.stdio_start import (
    CheckedStdin,
    ReplayedStdin,
    initialize_request,
    read_first_message,
    response,
)
from tests.benchmarks.lsp_client import LSPServerProcess
from tests.llm_server import ScriptedLLMServer
from tests.lsp_harness import (
    AGENTS,
    COMMENTED,
    DIVIDE,
    SOURCE,
    SYNTHESIS_TEXT,
    editor,
    server_env,
    wait_until,
)
from tests.scenarios import script_run

CAPABILITIES: dict[str, Any] = {
    "general": {"positionEncodings": ["utf-16"]},
    "window": {"workDoneProgress": True},
    "workspace": {"configuration": True, "applyEdit": True},
    "textDocument": {"hover": {"contentFormat": ["markdown"]}},
}
FROM_CACHE = "answered initialize from"


def framed(message: dict[str, Any], *headers: bytes) -> bytes:
    body = json.dumps(message).encode()
    return b"".join(headers) + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"processId": None, "capabilities": CAPABILITIES},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "initialized", "params": {}}


# --- reading the first message -------------------------------------------------------------


def test_the_first_message_is_read_whole_and_nothing_after_it() -> None:
    stdin = io.BytesIO(framed(INITIALIZE, b"Content-Type: x\r\n") + framed(INITIALIZED))

    first = read_first_message(stdin)

    assert first.raw == framed(INITIALIZE, b"Content-Type: x\r\n")
    assert first.body == json.dumps(INITIALIZE).encode()
    assert stdin.read() == framed(INITIALIZED)


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # stdin closed at once
        b"Content-Length: 10\r\n",  # closed within the headers
        b"Content-Length: 1x\r\n\r\n{}",  # a header pygls would not take
        b"content-length: 2\r\n\r\n{}",  # pygls matches the header's case
    ],
)
def test_input_without_a_message_pygls_would_read_is_all_kept_for_pygls(sent: bytes) -> None:
    first = read_first_message(io.BytesIO(sent))

    assert first == type(first)(raw=sent, body=None)


@pytest.mark.parametrize(
    "message",
    [
        {**INITIALIZE, "method": "shutdown"},
        {key: value for key, value in INITIALIZE.items() if key != "id"},
        {**INITIALIZE, "params": {"processId": None}},
        {**INITIALIZE, "jsonrpc": "1.0"},
        ["not", "a", "message"],
    ],
)
def test_only_an_initialize_request_is_answered_early(message: Any) -> None:
    assert initialize_request(json.dumps(message).encode()) is None


def test_an_initialize_request_gives_its_id_and_capabilities() -> None:
    assert initialize_request(b"{not json") is None
    assert initialize_request(json.dumps({**INITIALIZE, "id": "a"}).encode()) == (
        "a",
        CAPABILITIES,
    )


def test_the_early_answer_is_a_framed_response() -> None:
    result = {"capabilities": {"hoverProvider": True}}

    first = read_first_message(io.BytesIO(response(7, result)))

    assert first.body is not None
    assert json.loads(first.body) == {"jsonrpc": "2.0", "id": 7, "result": result}


def test_pygls_reads_the_replayed_message_then_the_real_stdin() -> None:
    stdin = io.BytesIO(framed(INITIALIZE) + framed(INITIALIZED))
    replayed = ReplayedStdin(read_first_message(stdin).raw, stdin)

    # read_first_message reads as pygls' loop does: line by line, then the body by its length.
    assert read_first_message(replayed).raw == framed(INITIALIZE)
    assert read_first_message(replayed).raw == framed(INITIALIZED)
    assert read_first_message(replayed).raw == b""


def test_reads_that_straddle_the_replayed_bytes_continue_on_stdin() -> None:
    replayed = ReplayedStdin(b"Content-", io.BytesIO(b"Length: 2\r\n\r\n{}"))

    assert replayed.readline() == b"Content-Length: 2\r\n"
    assert ReplayedStdin(b"ab", io.BytesIO(b"cdef")).read(4) == b"abcd"


@pytest.mark.parametrize(
    ("header", "logged"),
    [
        (b"Content-Length: 1000000000000\r\n", "a message of 1000000000000 bytes, over the limit"),
        (b"Content-Length: twelve\r\n", "a header pygls cannot read: b'Content-Length: twelve"),
        (b"content-length: 2\r\n", "a header pygls cannot read: b'content-length: 2"),
    ],
    ids=["10^12 bytes", "not a number", "lower case"],
)
def test_framing_pygls_cannot_survive_stops_the_server_with_the_reason(
    header: bytes, logged: str, tmp_path: Path
) -> None:
    stopped = subprocess.run(
        [sys.executable, "-m", "server"],
        input=header + b"\r\n{}" + framed(INITIALIZE),
        capture_output=True,
        env={**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    stderr = stopped.stderr.decode()
    assert logged in stderr and "stopping, as the next message cannot be found" in stderr
    assert "MemoryError" not in stderr and "Traceback" not in stderr
    assert stopped.stdout == b"", "nothing read after the bad header is answered"


def test_checked_stdin_passes_good_framing_through() -> None:
    sent = framed(INITIALIZE, b"Content-Type: x\r\n") + framed(INITIALIZED)
    stdin = CheckedStdin(io.BytesIO(sent))
    assert read_first_message(stdin).raw == framed(INITIALIZE, b"Content-Type: x\r\n")
    assert read_first_message(stdin).raw == framed(INITIALIZED)


# --- the cache -----------------------------------------------------------------------------


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_key_is_the_capabilities_and_the_server_build(cache_home: Path) -> None:
    build = build_identity()
    reordered = dict(reversed(CAPABILITIES.items()))
    other_client = {**CAPABILITIES, "window": {"workDoneProgress": False}}
    edited = {**build, "sources": [*build["sources"], ("new.py", 1, 1)]}

    path = cache_file(CAPABILITIES, build)

    assert path.parent == cache_home / "deepthink" / "initialize"
    assert cache_file(reordered, build) == path
    assert cache_file(other_client, build) != path
    assert cache_file(CAPABILITIES, edited) != path
    assert cache_file(CAPABILITIES, {**build, "pygls": "0.0"}) != path
    assert {"pygls", "lsprotocol", "deepthink-lsp"} <= build.keys()
    assert ("stdio_start.py",) in {source[:1] for source in build["sources"]}


def test_a_library_without_its_metadata_has_no_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_metadata(distribution: str) -> str:
        raise PackageNotFoundError(distribution)

    monkeypatch.setattr(initialize_cache, "version", no_metadata)

    assert build_identity()["pygls"] is None


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_an_unreadable_cache_file_is_no_result(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(content)

    assert load(path) is None
    assert load(tmp_path / "missing.json") is None


def test_results_are_stored_whole_and_only_the_newest_kept(tmp_path: Path) -> None:
    paths = [tmp_path / "initialize" / f"{n:03d}.json" for n in range(KEPT + 2)]
    for n, path in enumerate(paths):
        store(path, {"capabilities": {"n": n}})

    assert load(paths[-1]) == {"capabilities": {"n": KEPT + 1}}
    assert sorted((tmp_path / "initialize").iterdir()) == paths[2:]  # no temporary files


def test_a_result_that_cannot_be_stored_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("")

    store(tmp_path / "file" / "result.json", {"capabilities": {}})

    assert "could not keep the initialize result" in caplog.text


def test_pygls_result_is_kept_when_none_was(tmp_path: Path) -> None:
    path = tmp_path / "result.json"

    FirstInitialize(1, path, answered=None).settle({"capabilities": {}})

    assert load(path) == {"capabilities": {}}


def test_a_stale_answer_is_replaced_and_a_failed_initialize_forgotten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "result.json"
    store(path, {"capabilities": {"old": True}})

    FirstInitialize(1, path, answered={"capabilities": {"old": True}}).settle({"capabilities": {}})
    replaced = load(path)
    FirstInitialize(1, path, answered={"capabilities": {}}).settle(None)

    assert replaced == {"capabilities": {}}
    assert "was stale" in caplog.text
    assert not path.exists()
    assert "initialize failed after it was answered" in caplog.text


# --- the real server -----------------------------------------------------------------------


@dataclass
class Starts:
    """Servers started one after another in one home, so with one cache; each logs to a file."""

    llm: ScriptedLLMServer
    home: Path

    @property
    def project(self) -> Path:
        return self.home.parent / "project"

    @property
    def kept(self) -> list[Path]:
        return sorted((self.home / ".cache" / "deepthink" / "initialize").glob("*.json"))

    def from_cache(self, start: str) -> bool:
        return FROM_CACHE in (self.home / f"{start}.log").read_text()

    @asynccontextmanager
    async def server(
        self, start: str, capabilities: dict[str, Any] = CAPABILITIES, options: Any = None
    ) -> AsyncIterator[tuple[LSPServerProcess, Any]]:
        """A server and its answer to `initialize`; shut down afterwards."""
        command = [sys.executable, "-m", "server", "--log-level", "DEBUG"]
        env = server_env(self.llm, self.home)
        server = await LSPServerProcess.start(command, env, self.home / f"{start}.log")
        try:
            params = {
                "processId": None,
                "rootUri": self.project.as_uri(),
                "capabilities": capabilities,
                "initializationOptions": options,
            }
            result = await server.request("initialize", params)
            server.notify("initialized", {})
            yield server, result
        finally:
            await server.close()

    async def answer(self, start: str, capabilities: dict[str, Any] = CAPABILITIES) -> Any:
        """A start's answer to `initialize`, and nothing more."""
        async with self.server(start, capabilities) as (_, result):
            return result

    async def code_actions(self, server: LSPServerProcess) -> Any:
        """Open a file and list its code actions: only an initialized server has the document."""
        uri = (self.project / "a.py").as_uri()
        item = {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}
        server.notify("textDocument/didOpen", {"textDocument": item})
        whole = {"start": {"line": 3, "character": 0}, "end": {"line": 4, "character": 0}}
        params = {"textDocument": {"uri": uri}, "range": whole, "context": {"diagnostics": []}}
        return await server.request("textDocument/codeAction", params)


@pytest.fixture
def starts(tmp_path: Path, llm_server: ScriptedLLMServer) -> Starts:
    (tmp_path / "project").mkdir()
    (tmp_path / "home").mkdir()
    return Starts(llm_server, tmp_path / "home")


async def test_the_next_start_answers_initialize_from_the_cache_once_and_still_initializes(
    starts: Starts,
) -> None:
    first = await starts.answer("first")
    # Options are no part of the key; misspelt ones show that pygls ran our handler with them.
    options = {"orchestrator": {"parallel_agent": 3}}
    async with starts.server("second", options=options) as (server, second):
        actions = await starts.code_actions(server)
        error = await server.wait_for(
            "the settings error",
            lambda: [n for n in server.notifications if n.method == "window/showMessage"],
        )

    assert (starts.from_cache("first"), starts.from_cache("second")) == (False, True)
    assert second == first
    assert first["capabilities"]["codeActionProvider"]["resolveProvider"] is True
    # pygls' own answer to the replayed initialize was held back (the shutdown came after it)
    assert server.unexpected_responses == []
    assert actions[0]["title"] == "Deep think: explain"
    assert "did you mean 'parallel_agents'" in error[0].params["message"]
    assert [json.loads(path.read_text()) for path in starts.kept] == [first]


async def test_other_capabilities_are_answered_by_pygls_and_kept_apart(starts: Starts) -> None:
    utf8 = {**CAPABILITIES, "general": {"positionEncodings": ["utf-8"]}}

    first = await starts.answer("first")
    second = await starts.answer("second", utf8)
    third = await starts.answer("third", utf8)

    assert (starts.from_cache("second"), starts.from_cache("third")) == (False, True)
    assert first["capabilities"]["positionEncoding"] == "utf-16"
    assert second["capabilities"]["positionEncoding"] == "utf-8"
    assert third == second
    assert len(starts.kept) == 2


async def test_a_corrupt_cache_file_means_a_normal_start(starts: Starts) -> None:
    first = await starts.answer("first")
    (kept,) = starts.kept
    kept.write_bytes(b'{"capabilities": {')
    async with starts.server("second") as (server, second):
        actions = await starts.code_actions(server)

    assert not starts.from_cache("second")
    assert second == first
    assert actions
    assert json.loads(kept.read_text()) == first


async def test_a_stale_cached_answer_is_replaced_for_the_next_start(starts: Starts) -> None:
    first = await starts.answer("first")
    (kept,) = starts.kept
    kept.write_text(json.dumps({**first, "serverInfo": {"name": "stale"}}))
    async with starts.server("second") as (server, second):
        pass
    third = await starts.answer("third")

    assert second["serverInfo"] == {"name": "stale"}  # what the cache said: a real hit
    assert server.unexpected_responses == []
    assert "was stale" in (starts.home / "second.log").read_text()
    assert third == first


async def test_the_server_ends_as_pygls_would_when_stdin_closes_at_once(starts: Starts) -> None:
    env = server_env(starts.llm, starts.home)
    server = await LSPServerProcess.start(
        [sys.executable, "-m", "server"], env, starts.home / "log"
    )
    assert server.process.stdin is not None
    server.process.stdin.close()

    assert await server.process.wait() == 0
    assert starts.kept == []


async def test_a_deep_think_runs_after_initialize_was_answered_from_the_cache(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis=SYNTHESIS_TEXT)
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for start in ("first", "second"):
        (tmp_path / start).mkdir()
    async with editor(tmp_path / "first", llm_server, env=cache):
        pass
    log = tmp_path / "second.log"
    async with editor(tmp_path / "second", llm_server, env=cache, log_file=log) as ed:
        uri = ed.open("a.py", SOURCE)
        reply = await ed.run(uri, DIVIDE, "explain")
        await ed.progress_end(reply["job"])
        await wait_until(lambda: ed.edits, "the comment to be inserted")

    assert FROM_CACHE in log.read_text()
    assert ed.text(uri) == COMMENTED

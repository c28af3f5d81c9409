"""A scripted OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks.

Nothing in the project is monkeypatched: the real `openai` client talks to this server over
real HTTP, so tests exercise the same transport, streaming, retry and error paths as production.
Tests script replies with `add(match, reply)` and inspect what the client sent in `requests`.

    with ScriptedLLMServer() as llm:
        llm.add("explain", Reply(content="It adds two numbers."))
        client = openai.OpenAI(base_url=llm.base_url, api_key="test-key", max_retries=0)

An endpoint profile makes the server behave like a kind of real server beyond its rules
(one request at a time, tool calls written as text, a context window): see `Profile`.

Standalone, for tests that need the server in another process (closing stdin stops it, so a
parent that dies does not leak it):

    python -m tests.llm_server --script rules.json [--port N] [--profile llama.cpp]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import select
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

Body = dict[str, Any]
Match = str | Callable[[Body], bool] | None

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "scripted-model")
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"

# How often a wait looks for a client that hung up, in the rare case that select() cannot
# tell: the client sent more bytes while waiting for its answer.
_POLL_SECONDS = 0.02
_CONTENT_PIECE_CHARS = 20
_ARGUMENT_PIECE_CHARS = 12


@dataclass
class ToolCall:
    name: str
    # A dict is JSON-encoded; a str is sent verbatim so tests can send invalid JSON.
    arguments: str | dict[str, Any]
    id: str | None = None

    @property
    def arguments_text(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass
class Reply:
    """What the server answers. Every field is optional; the default is an empty text reply."""

    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    delay: float = 0.0  # seconds before the response headers
    chunk_delay: float = 0.0  # seconds between stream chunks
    pieces: int | None = None  # stream the content in this many even pieces; None: word by word
    status: int = 200  # non-200 sends an OpenAI-shaped error body carrying `error_message`
    error_message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | None = None  # sent verbatim as application/json, with `status`
    # Cut the connection: after this many SSE events when streaming, else after this many bytes.
    truncate_after: int | None = None
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens); None = estimate
    finish_reason: str | None = None  # None = "tool_calls" if there are tool calls, else "stop"


ReplySource = Reply | Callable[[Body], Reply]


@dataclass(frozen=True)
class Profile:
    """How a kind of real OpenAI-compatible server behaves, beyond what the rules answer.

    Each field imitates a behaviour seen on a real server (see the profiles below).
    """

    name: str = "openai"
    # One request at a time: "queue" makes the others wait (Ollama with OLLAMA_NUM_PARALLEL=1);
    # "abort" cuts the running stream off when a new request arrives (llama-cpp-python's
    # server, which interrupts by default).
    serial: Literal["no", "queue", "abort"] = "no"
    # When the model writes its tool calls as text (`<tool_call>{...}</tool_call>`): never;
    # when the request has no tool_choice (a function-calling chat format then drops the
    # tools); or always (the model's own chat template).
    tool_calls_as_text: Literal["never", "without_tool_choice", "always"] = "never"
    context_window: int | None = None  # tokens of prompt (and max_tokens, for "400")
    # Past the window: "cut" answers 200 and then ends the stream (llama.cpp); "400" refuses
    # the request naming its length (vLLM).
    overflow: Literal["cut", "400"] = "cut"
    # Request fields answered with 400 and this message (a model without tool support on
    # Ollama, vLLM started without --enable-auto-tool-choice).
    refuses: tuple[tuple[str, str], ...] = ()
    model_info: tuple[tuple[str, Any], ...] = ()  # extra fields of each /v1/models entry
    chunk_delay: float = 0.0  # the least seconds between stream events: a model's pace

    def refusal(self, body: Body) -> Reply | None:
        """The 400 this server answers the request with, if any."""
        for name, message in self.refuses:
            if name in body:
                return Reply(status=400, error_message=message)
        if self.overflow == "400" and (tokens := self._overflow(body)) is not None:
            prompt = prompt_tokens(body)
            return Reply(
                status=400,
                error_message=(
                    f"This model's maximum context length is {self.context_window} tokens. "
                    f"However, you requested {tokens} tokens ({prompt} in the messages, "
                    f"{tokens - prompt} in the completion). Please reduce the length of the "
                    "messages or completion."
                ),
            )
        return None

    def shape(self, reply: Reply, body: Body) -> Reply:
        """The reply as this server sends it."""
        changes: dict[str, Any] = {"chunk_delay": max(reply.chunk_delay, self.chunk_delay)}
        as_text = self.tool_calls_as_text == "always" or (
            self.tool_calls_as_text == "without_tool_choice" and "tool_choice" not in body
        )
        if reply.tool_calls and as_text:
            written = "".join(
                "<tool_call>\n"
                + json.dumps({"name": call.name, "arguments": json.loads(call.arguments_text)})
                + "\n</tool_call>"
                for call in reply.tool_calls
            )
            changes.update(content=(reply.content or "") + written, tool_calls=[])
        if self.overflow == "cut" and self._overflow(body) is not None:
            changes["truncate_after"] = 1  # the role chunk, then the stream ends
        return dataclasses.replace(reply, **changes)

    def _overflow(self, body: Body) -> int | None:
        """The tokens requested, when they exceed the context window."""
        if self.context_window is None:
            return None
        tokens = prompt_tokens(body)
        if self.overflow == "400":
            tokens += int(body.get("max_tokens") or 0)
        return tokens if tokens > self.context_window else None


def prompt_tokens(body: Body) -> int:
    """About four characters a token, of the messages and the tool definitions."""
    text = json.dumps(body.get("messages", []), ensure_ascii=False)
    return (len(text) + len(json.dumps(body.get("tools") or []))) // 4


OPENAI = Profile()
# llama-cpp-python's server: one request at a time, each new one aborting the stream in
# progress; 2,048 tokens of context unless started with --n_ctx, and a prompt past it gets
# HTTP 200 and a cut stream; tools dropped without tool_choice, so the model writes calls.
LLAMA_CPP = Profile(
    name="llama.cpp",
    serial="abort",
    tool_calls_as_text="without_tool_choice",
    context_window=2048,
    overflow="cut",
    chunk_delay=0.002,
)
# Ollama: requests queue for the model (OLLAMA_NUM_PARALLEL=1); a model without tool
# support answers 400 to any request offering tools.
OLLAMA = Profile(
    name="ollama",
    serial="queue",
    refuses=(("tools", "registry.ollama.ai/library/gemma:2b does not support tools"),),
    chunk_delay=0.002,
)
# vLLM started without --enable-auto-tool-choice: concurrent, its window in the models
# list, 400 for a request past it, and 400 for "auto" tool choice.
VLLM = Profile(
    name="vllm",
    context_window=4096,
    overflow="400",
    refuses=(
        (
            "tools",
            '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser '
            "to be set",
        ),
    ),
    model_info=(("max_model_len", 4096),),
)
PROFILES = {profile.name: profile for profile in (OPENAI, LLAMA_CPP, OLLAMA, VLLM)}


@dataclass
class Rule:
    match: Match
    reply: ReplySource
    uses_left: int | None  # None = unlimited

    def matches(self, body: Body, messages_text: str) -> bool:
        if self.uses_left == 0:
            return False
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in messages_text
        return self.match(body)


@dataclass
class RecordedRequest:
    """One request as the server saw it.

    `finished` and `aborted` are set by the handler thread after its last write returns, which
    can be just after the client already holds the response: use `wait_settled()` before
    asserting on them.
    """

    body: Body
    headers: dict[str, str]  # lower-cased names
    path: str
    started: float  # time.monotonic() when the request was received
    finished: float | None = None  # when the scripted response was completely sent
    aborted: bool = False  # the client hung up before the response was completely sent
    cut_off: bool = False  # a serial profile cut the stream off for a newer request
    rule: int | None = None  # index of the rule that answered; None if none matched

    @property
    def model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @property
    def messages_text(self) -> str:
        """The JSON text of `messages`, which string rules search."""
        return json.dumps(self.body.get("messages", []), ensure_ascii=False)

    @property
    def settled(self) -> bool:
        return self.finished is not None or self.aborted


class ScriptedLLMServer:
    """An OpenAI-compatible HTTP server answering chat requests from scripted rules."""

    def __init__(self, port: int = 0, profile: Profile = OPENAI) -> None:
        self._port = port
        self.profile = profile
        # The turn of a serial profile: who holds it, and how to cut its stream off.
        self._serial = threading.Lock()
        self._running: set[threading.Event] = set()
        self._state = threading.Condition()  # guards rules, requests and connections
        self._rules: list[Rule] = []
        self._requests: list[RecordedRequest] = []
        self._others: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        # Readable once stop() is called, so that waits can select() on it with the client.
        self._stop_signal: tuple[socket.socket, socket.socket] | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> ScriptedLLMServer:
        if self._httpd is not None:
            raise RuntimeError("ScriptedLLMServer is already running")
        self._stopping.clear()
        self._stop_signal = socket.socketpair()
        self._httpd = _HTTPServer(("127.0.0.1", self._port), self)
        # A short poll interval keeps stop() prompt: shutdown() waits for the serve loop.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-llm-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()
        assert self._stop_signal is not None
        self._stop_signal[1].send(b"x")  # wakes handlers waiting in delays
        httpd.shutdown()
        with self._state:
            connections = list(self._connections)
        # Idle keep-alive handlers block reading the next request; shutting their sockets down
        # releases them so server_close() can join every handler thread.
        for connection in connections:
            _shutdown_quietly(connection)
        httpd.server_close()
        thread.join()
        for end in self._stop_signal:
            end.close()
        self._httpd = self._thread = self._stop_signal = None

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ScriptedLLMServer is not running; call start() first")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # --- scripting -------------------------------------------------------------------------

    def add(self, match: Match, reply: ReplySource, times: int | None = None) -> int:
        """Append a rule and return its index. The first matching rule with uses left answers.

        A str `match` is searched in the JSON text of the request's messages, so quotes and
        newlines inside it must be written as JSON escapes them.
        """
        with self._state:
            self._rules.append(Rule(match, reply, times))
            return len(self._rules) - 1

    def clear(self) -> None:
        """Forget every rule and recorded request."""
        with self._state:
            self._rules.clear()
            self._requests.clear()
            self._others.clear()

    # --- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The chat-completion requests, which every wait and rule is about."""
        with self._state:
            return list(self._requests)

    @property
    def other_requests(self) -> list[RecordedRequest]:
        """Every other request: the models list (the engine asks a local endpoint for its
        context window), unknown paths, bodies that are not JSON."""
        with self._state:
            return list(self._others)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least `n` requests have arrived; raise TimeoutError otherwise."""
        return self._wait(lambda: len(self._requests) >= n, timeout, f"{n} requests")

    def wait_settled(self, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until every request has been answered or abandoned by its client."""
        return self._wait(
            lambda: all(request.settled for request in self._requests),
            timeout,
            "every request to be finished or aborted",
        )

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> list[RecordedRequest]:
        with self._state:
            if not self._state.wait_for(ready, timeout):
                raise TimeoutError(f"waited {timeout}s for {what}; have {self._requests}")
            return list(self._requests)

    # --- used by request handlers ----------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._state:
            (self._requests if request.path == CHAT_PATH else self._others).append(request)
            self._state.notify_all()

    def _pick_rule(self, request: RecordedRequest) -> ReplySource | None:
        messages_text = request.messages_text
        with self._state:
            for index, rule in enumerate(self._rules):
                if rule.matches(request.body, messages_text):
                    if rule.uses_left is not None:
                        rule.uses_left -= 1
                    request.rule = index
                    return rule.reply
        return None

    def _settle(self, request: RecordedRequest, *, aborted: bool) -> None:
        with self._state:
            if aborted:
                request.aborted = True
            else:
                request.finished = time.monotonic()
            self._state.notify_all()

    @contextlib.contextmanager
    def _turn(self) -> Iterator[threading.Event]:
        """Wait for this request's turn, as the profile says; the event cuts its stream off."""
        interrupted = threading.Event()
        if self.profile.serial == "no":
            yield interrupted
            return
        if self.profile.serial == "abort":
            with self._state:
                for running in self._running:
                    running.set()
        while not self._serial.acquire(timeout=_POLL_SECONDS):
            if self._stopping.is_set():
                raise _ServerStopping
        with self._state:
            self._running.add(interrupted)
        try:
            yield interrupted
        finally:
            with self._state:
                self._running.discard(interrupted)
            self._serial.release()

    def _models(self) -> list[str]:
        with self._state:
            seen = [request.model for request in self._requests if request.model]
        return list(dict.fromkeys([*seen, *DEFAULT_MODELS]))

    def _register(self, connection: socket.socket) -> None:
        with self._state:
            if self._stopping.is_set():
                _shutdown_quietly(connection)
            self._connections.add(connection)

    def _unregister(self, connection: socket.socket) -> None:
        with self._state:
            self._connections.discard(connection)


# --- response bodies (plain functions of the reply and the request) ----------------------------


def error_body(message: str, status: int) -> Body:
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        kind, code = "server_error", None
    else:
        kind, code = "invalid_request_error", None
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def usage_body(reply: Reply, request: RecordedRequest) -> Body:
    if reply.usage is not None:
        prompt, completion = reply.usage
    else:
        # About four characters per token, the usual rule of thumb.
        produced = (reply.content or "") + "".join(c.arguments_text for c in reply.tool_calls)
        prompt = max(1, len(request.messages_text) // 4)
        completion = max(1, len(produced) // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def finish_reason(reply: Reply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls else "stop"


def tool_call_ids(reply: Reply) -> list[str]:
    return [call.id or f"call_{uuid.uuid4().hex[:24]}" for call in reply.tool_calls]


def completion_body(reply: Reply, request: RecordedRequest) -> Body:
    message: Body = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_text},
            }
            for call, call_id in zip(reply.tool_calls, tool_call_ids(reply), strict=True)
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model or DEFAULT_MODELS[0],
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(reply),
                "logprobs": None,
            }
        ],
        "usage": usage_body(reply, request),
    }


def reply_pieces(reply: Reply) -> list[str]:
    """The content's pieces, one per stream event."""
    text = reply.content or ""
    if reply.pieces is None:
        return content_pieces(text)
    size = -(-len(text) // reply.pieces)  # rounded up, so that there are no more pieces
    return [text[start : start + size] for start in range(0, len(text), size)]


def content_pieces(text: str, size: int = _CONTENT_PIECE_CHARS) -> list[str]:
    """Split into words with their trailing whitespace, long words cut to `size` characters."""
    words = [word for word in re.findall(r"\S*\s*", text) if word]
    return [word[i : i + size] for word in words for i in range(0, len(word), size)]


def stream_chunks(reply: Reply, request: RecordedRequest) -> list[Body]:
    """The chat.completion.chunk events of a streamed reply, shaped as OpenAI sends them."""
    include_usage = bool((request.body.get("stream_options") or {}).get("include_usage"))
    base: Body = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model or DEFAULT_MODELS[0],
    }

    def chunk(delta: Body, reason: str | None = None) -> Body:
        event = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}
        if include_usage:
            event["usage"] = None
        return event

    role_content = "" if reply.content is not None else None
    chunks = [chunk({"role": "assistant", "content": role_content})]
    chunks += [chunk({"content": piece}) for piece in reply_pieces(reply)]
    for index, (call, call_id) in enumerate(
        zip(reply.tool_calls, tool_call_ids(reply), strict=True)
    ):
        opening: Body = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [opening]}))
        arguments = call.arguments_text
        for start in range(0, len(arguments), _ARGUMENT_PIECE_CHARS):
            fragment = arguments[start : start + _ARGUMENT_PIECE_CHARS]
            chunks.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
            )
    chunks.append(chunk({}, finish_reason(reply)))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": usage_body(reply, request)})
    return chunks


# --- HTTP plumbing -------------------------------------------------------------------------------


class _ClientGone(Exception):
    """The client closed the connection before the response was completely sent."""


class _ServerStopping(Exception):
    """stop() was called while this request was in flight."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 resets connections when dozens of agents connect at once.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], owner: ScriptedLLMServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping an idle keep-alive connection is normal, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects
    server: _HTTPServer
    _interrupted = threading.Event()  # set by a serial profile's next request; never here

    def setup(self) -> None:
        super().setup()
        # Like real API servers: without it, Nagle's algorithm and the client's delayed ACK
        # hold each small stream write for ~40 ms, which would swamp every latency measured.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._register(self.connection)

    def finish(self) -> None:
        self.server.owner._unregister(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # test output stays readable; `requests` records everything

    def do_GET(self) -> None:
        self._serve(self._read_body())

    def do_POST(self) -> None:
        self._serve(self._read_body())

    def _read_body(self) -> Body | str:
        """The JSON body, or a str saying why it is unusable."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError as err:
            return f"request body is not JSON: {err}"
        return body if isinstance(body, dict) else "request body is not a JSON object"

    def _serve(self, body: Body | str) -> None:
        owner = self.server.owner
        request = RecordedRequest(
            body=body if isinstance(body, dict) else {},
            headers={name.lower(): value for name, value in self.headers.items()},
            path=self.path,
            started=time.monotonic(),
        )
        owner._record(request)
        try:
            self._respond(request, body)
        except _ClientGone:
            self.close_connection = True
            owner._settle(request, aborted=True)
        except _ServerStopping:
            self.close_connection = True
        else:
            owner._settle(request, aborted=False)

    def _respond(self, request: RecordedRequest, body: Body | str) -> None:
        if isinstance(body, str):
            self._send_json(400, error_body(body, 400))
        elif self.command == "GET" and self.path == MODELS_PATH:
            extra = dict(self.server.owner.profile.model_info)
            models = [
                {"id": name, "object": "model", "created": 0, "owned_by": "scripted", **extra}
                for name in self.server.owner._models()
            ]
            self._send_json(200, {"object": "list", "data": models})
        elif self.command == "POST" and self.path == CHAT_PATH:
            self._answer_chat(request)
        else:
            message = f"scripted server: no endpoint {self.command} {self.path}"
            self._send_json(404, error_body(message, 404))

    def _answer_chat(self, request: RecordedRequest) -> None:
        owner = self.server.owner
        with owner._turn() as interrupted:
            if (refusal := owner.profile.refusal(request.body)) is not None:
                self._send_json(refusal.status, error_body(refusal.error_message, 400))
                return
            self._interrupted = interrupted
            self._answer_by_rule(request)
            request.cut_off = interrupted.is_set()

    def _answer_by_rule(self, request: RecordedRequest) -> None:
        source = self.server.owner._pick_rule(request)
        if source is None:
            message = (
                f"scripted server: no rule matched request to {request.path} "
                f"(model={request.model}): {request.messages_text[:500]}"
            )
            self._send_json(500, error_body(message, 500))
            return
        try:
            reply = source(request.body) if callable(source) else source
        except Exception as err:
            message = f"scripted server: reply callable of rule {request.rule} raised {err!r}"
            self._send_json(500, error_body(message, 500))
            return
        reply = self.server.owner.profile.shape(reply, request.body)
        self._wait(reply.delay)
        if reply.raw_body is not None:
            self._send_bytes(reply.status, reply.raw_body.encode(), reply)
        elif reply.status != 200:
            self._send_json(reply.status, error_body(reply.error_message, reply.status), reply)
        elif request.body.get("stream"):
            self._send_stream(stream_chunks(reply, request), reply)
        else:
            self._send_json(200, completion_body(reply, request), reply)

    def _send_json(self, status: int, payload: Body, reply: Reply | None = None) -> None:
        self._send_bytes(status, json.dumps(payload, ensure_ascii=False).encode(), reply)

    def _send_bytes(self, status: int, payload: bytes, reply: Reply | None) -> None:
        headers = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
        self._send_head(status, {**headers, **(reply.headers if reply else {})})
        if reply is not None and reply.truncate_after is not None:
            self._write(payload[: reply.truncate_after])
            self.close_connection = True  # the client sees fewer bytes than Content-Length
            return
        self._write(payload)

    def _send_stream(self, chunks: list[Body], reply: Reply) -> None:
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "Transfer-Encoding": "chunked",
        }
        self._send_head(200, {**headers, **reply.headers})
        events = [f"data: {event_json(chunk)}\n\n" for chunk in chunks]
        # Events ready together go out in one write, as from a server that had them at once.
        pending = b""
        # Paced from the first event, as a model writes at a steady rate: a late wake-up
        # (this thread waiting for the GIL) must not push back every event after it.
        due = time.monotonic()
        for number, event in enumerate([*events, "data: [DONE]\n\n"]):
            if number == reply.truncate_after or self._interrupted.is_set():
                # No terminating chunk: the client sees a broken chunked body, not a clean end.
                self._write(pending)
                self.close_connection = True
                return
            if number and reply.chunk_delay:
                self._write(pending)
                pending = b""
                due += reply.chunk_delay
                self._wait(due - time.monotonic())
            pending += _http_chunk(event.encode())
        # The last event and the end of the body go out in one write: a client that hangs up
        # right after [DONE] must not make a finished response look aborted.
        self._write(pending + _http_chunk(b""))

    def _send_head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self._guard_write(self.end_headers)

    def _write(self, data: bytes) -> None:
        self._guard_write(lambda: self.wfile.write(data))

    def _guard_write(self, write: Callable[[], object]) -> None:
        if self.server.owner._stopping.is_set():
            raise _ServerStopping
        try:
            write()
        except ConnectionError as err:
            if self.server.owner._stopping.is_set():
                raise _ServerStopping from err
            raise _ClientGone from err

    def _wait(self, seconds: float) -> None:
        """Sleep, waking at once on stop() or when the client hangs up."""
        stop_signal = self.server.owner._stop_signal
        assert stop_signal is not None
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection, stop_signal[0]], [], [], left)
            if stop_signal[0] in readable:
                raise _ServerStopping
            if readable:
                if self._client_hung_up():
                    raise _ClientGone
                time.sleep(min(left, _POLL_SECONDS))

    def _client_hung_up(self) -> bool:
        """Whether the readable connection is at its end, rather than holding more bytes."""
        try:
            return not self.connection.recv(1, socket.MSG_PEEK)  # b"" means EOF
        except ConnectionError:
            return True


def event_json(chunk: Body) -> str:
    """A stream event as JSON; a lone surrogate goes out as JSON's `\\ud800` escape, as a
    server would send one (UTF-8 cannot carry it)."""
    text = json.dumps(chunk, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(chunk)
    return text


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _shutdown_quietly(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


# --- standalone mode -----------------------------------------------------------------------------


def reply_from_json(data: Body) -> Reply:
    fields = dict(data)
    fields["tool_calls"] = [ToolCall(**call) for call in data.get("tool_calls", [])]
    if data.get("usage") is not None:
        fields["usage"] = tuple(data["usage"])
    return Reply(**fields)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve scripted OpenAI chat replies.")
    parser.add_argument("--script", required=True, help='JSON list of {"match", "reply", "times"}')
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=OPENAI.name)
    args = parser.parse_args(argv)
    with open(args.script, encoding="utf-8") as script:
        rules = json.load(script)
    server = ScriptedLLMServer(port=args.port, profile=PROFILES[args.profile])
    for rule in rules:
        server.add(rule.get("match"), reply_from_json(rule["reply"]), rule.get("times"))
    with server, contextlib.suppress(KeyboardInterrupt):
        print(server.base_url, flush=True)
        sys.stdin.read()  # serve until the parent closes stdin or kills us


if __name__ == "__main__":
    main()

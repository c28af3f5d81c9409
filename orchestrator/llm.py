"""The LLM transport: streaming chat completions with tool calls, retries and real cancellation.

Agents are plain threads, but every HTTP call runs as a task on one asyncio loop
owned by the client. A cancel then aborts the call wherever it is (connecting,
waiting for headers, mid-stream or sleeping before a retry) instead of waiting
for a blocking socket read to return.

`openai` is imported where it is used, at the first request: the import takes longer
than everything else the language server does to start.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import SplitResult, urlsplit

from orchestrator.cancel import CancelToken
from orchestrator.config import ProviderConfig

if TYPE_CHECKING:
    import openai

RETRY_AFTER_CAP = 60.0
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


class LLMError(Exception):
    """A request failed for good; the message is meant for the user and holds no secret.

    `endpoint_unusable` marks failures every further request would repeat (bad key,
    unknown model, unreachable server), so that a run can stop early.
    """

    def __init__(self, message: str, *, endpoint_unusable: bool = False) -> None:
        super().__init__(message)
        self.endpoint_unusable = endpoint_unusable


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = Usage()
    model: str = ""

    def from_model(self, secret: str) -> Completion:
        """The completion as the program may use it: see `from_model`."""
        calls = [
            ToolCall(
                from_model(call.id, secret),
                from_model(call.name, secret),
                from_model(call.arguments, secret),
            )
            for call in self.tool_calls
        ]
        return dataclasses.replace(self, content=from_model(self.content, secret), tool_calls=calls)


class _StreamBroken(Exception):
    """The stream ended before the model said it was finished."""


class _NotAStream(Exception):
    """The endpoint answered, but not with chat-completion stream events."""


class _OtherOrigin(Exception):
    """A redirect led to another origin; the request was not sent there."""

    def __init__(self, origin: str) -> None:
        super().__init__(origin)
        self.origin = origin


@dataclass
class _StreamedAnswer:
    """A completion put together from its stream's chat.completion.chunk events."""

    content: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, str]] = field(default_factory=dict)
    usage: Usage = Usage()
    finished: bool = False
    chunks: int = 0

    def add(self, chunk: object) -> bool:
        """Take in one event and say whether the text grew; ValueError if it is not a chunk."""
        pieces = len(self.content)
        try:
            self._add(cast(dict[str, Any], chunk))
        except (AttributeError, KeyError, TypeError) as error:
            raise ValueError(f"not a chat.completion.chunk: {chunk!r:.200}") from error
        self.chunks += 1
        return len(self.content) > pieces

    def _add(self, chunk: dict[str, Any]) -> None:
        if (usage := chunk.get("usage")) is not None:
            self.usage = Usage(int(usage["prompt_tokens"]), int(usage["completion_tokens"]))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if text := delta.get("content"):
                self.content.append(_text(text))
            for call in delta.get("tool_calls") or ():
                slot = self.calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                function = call.get("function") or {}
                slot["id"] = _text(call.get("id")) or slot["id"]
                slot["name"] += _text(function.get("name"))
                slot["arguments"] += _text(function.get("arguments"))
            if choice.get("finish_reason") is not None:
                self.finished = True

    def completion(self, model: str, messages: list[dict[str, Any]]) -> Completion:
        if self.chunks == 0:
            raise _NotAStream()
        if not self.finished:
            raise _StreamBroken("the stream ended before the model finished its answer")
        text = "".join(self.content)
        usage = self.usage if self.usage != Usage() else _estimate_usage(messages, text)
        tool_calls = [
            ToolCall(slot["id"] or f"call_{index}", slot["name"], slot["arguments"])
            for index, slot in sorted(self.calls.items())
        ]
        return Completion(text, tool_calls, usage, model)


@dataclass(frozen=True)
class _Listeners:
    on_tokens: Callable[[int], None] | None
    on_text: Callable[[str], None] | None
    secret: str

    def heard(self, answer: _StreamedAnswer, text_grew: bool) -> None:
        if self.on_tokens is not None:
            self.on_tokens(answer.chunks)
        if self.on_text is not None and text_grew:
            # The plan's sub-questions are read from this text as it streams in, and reach
            # progress, results and the cache: it is redacted like the finished completion.
            self.on_text(redact_streaming(well_formed("".join(answer.content)), self.secret))


def _text(value: object) -> str:
    """A string field of a chunk; absent is empty."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


class LLMClient:
    """One endpoint, one key, one connection pool, shared by every agent of every run."""

    def __init__(self, provider: ProviderConfig, api_key: str) -> None:
        self.provider = provider
        self._secret = api_key
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="llm-transport")
        self._thread.daemon = True
        self._thread.start()
        self._client: openai.AsyncOpenAI | None = None  # made by the first request

    def warm_up(self) -> None:
        """Import and build the openai client now, on the transport thread, so that the first
        request does not wait for it."""
        self._loop.call_soon_threadsafe(self._openai)

    def complete(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        cancel: CancelToken,
        tools: list[dict[str, Any]] | None = None,
        on_tokens: Callable[[int], None] | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        """Stream one completion; raises Cancelled/DeadlineExceeded on cancel, LLMError on failure.

        `on_tokens` is called with the running count of streamed chunks so that progress can
        show an agent is alive; `on_text` with the text streamed so far, whenever it grows
        (a retry starts it again from nothing). Both are called on the transport thread.
        """
        cancel.raise_if_cancelled()
        listeners = _Listeners(on_tokens, on_text, self._secret)
        future = asyncio.run_coroutine_threadsafe(
            self._with_retries(model, messages, tools, listeners, cancel), self._loop
        )

        def abort() -> None:
            future.cancel()

        unregister = cancel.on_cancel(abort)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            cancel.raise_if_cancelled()
            raise
        finally:
            unregister()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _shutdown(self) -> None:
        # A request still in flight would leave its agent waiting forever on a dead loop.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        await self._loop.shutdown_asyncgens()

    async def _with_retries(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        listeners: _Listeners,
        cancel: CancelToken,
    ) -> Completion:
        attempt = 0
        while True:
            try:
                return await self._stream(model, messages, tools, listeners)
            except Exception as error:
                delay = self._retry_delay(error, attempt, cancel)
                if delay is None:
                    raise LLMError(
                        self.describe(error, model), endpoint_unusable=_unusable(error)
                    ) from None
            attempt += 1
            await asyncio.sleep(delay)

    def _retry_delay(self, error: Exception, attempt: int, cancel: CancelToken) -> float | None:
        """Seconds to wait before trying again, or None when the error is final."""
        import openai

        if attempt >= self.provider.max_retries:
            return None
        if isinstance(error, openai.APIStatusError):
            if error.status_code not in _RETRYABLE_STATUS:
                return None
            retry_after = _retry_after(error.response.headers)
        elif isinstance(error, openai.APIConnectionError | _StreamBroken) and not _unusable(error):
            retry_after = None  # a refused connection is not retried: say so at once
        else:
            return None
        delay = retry_after if retry_after is not None else 0.5 * 2**attempt
        remaining = cancel.remaining()
        if delay > RETRY_AFTER_CAP or (remaining is not None and delay >= remaining):
            return None
        return delay

    async def _stream(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        listeners: _Listeners,
    ) -> Completion:
        from openai import AsyncStream

        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = tools
        # `chat.completions.create` would walk every message and tool schema to transform them
        # (a no-op for plain JSON like ours) and build a pydantic model of every chunk: most of
        # the CPU a request costs, which dozens of agents feel. The client's low-level `post`
        # keeps its transport, auth, status errors and SSE decoding, and hands over plain JSON.
        stream = await self._openai().post(
            "/chat/completions",
            body=body,
            cast_to=object,
            stream=True,
            stream_cls=AsyncStream[object],
        )
        answer = _StreamedAnswer()
        async with stream:
            async for chunk in stream:
                grew = answer.add(chunk)
                listeners.heard(answer, grew)
        # A model can be led to repeat the key (by an injection in the code it reads, or a
        # proxy that echoes headers): what it says reaches results, logs and the cache.
        return answer.completion(model, messages).from_model(self._secret)

    def _openai(self) -> openai.AsyncOpenAI:
        """The openai client, made on the transport thread: the import never blocks a caller."""
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(
                base_url=self.provider.base_url,
                api_key=self._secret,
                max_retries=0,  # retries are ours, so that a cancel also interrupts the wait
                timeout=self.provider.request_timeout,
                # httpx's connection pool checks every connection at each request, which dozens
                # of agents starting at once feel; aiohttp's does not (see the benchmarks).
                http_client=openai.DefaultAioHttpClient(
                    # A redirect is followed only within the configured origin: the request
                    # carries the user's code, and a 307 would resend it anywhere.
                    event_hooks={"request": [_same_origin_as(self.provider.base_url)]}
                ),
            )
            if gc.get_freeze_count() == 0:
                # What is imported by now (the openai import alone leaves about 90,000
                # objects) lives as long as the process: a full garbage collection walking it
                # all stalled every thread for ~100 ms (agents, and the language server's
                # hovers). Exempt it, once.
                gc.freeze()
        return self._client

    def describe(self, error: Exception, model: str) -> str:
        """A message for the user: what failed and what to do, never the key."""
        import openai

        where = self.provider.base_url
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            variable = self.provider.api_key_env or "DEEPTHINK_API_KEY (or OPENAI_API_KEY)"
            text = (
                f"{where} rejected the API key ({error.status_code}): check the key in {variable}"
            )
        elif isinstance(error, openai.NotFoundError):
            text = (
                f"{where} answered 404 for model '{model}': "
                "check provider.model (and provider.base_url)"
            )
        elif isinstance(error, openai.RateLimitError):
            text = f"{where} kept rate-limiting the requests (429) after retries: try again later"
        elif isinstance(error, openai.APIStatusError):
            text = f"{where} answered {error.status_code}: {_server_message(error)}"
        elif isinstance(error, openai.APIConnectionError):
            text = {
                "unreachable": (
                    f"cannot reach {where}: check that the server is running, "
                    "or set provider.base_url (or DEEPTHINK_BASE_URL)"
                ),
                "timeout": (
                    f"{where} did not answer within {self.provider.request_timeout:g} s "
                    "(provider.request_timeout)"
                ),
                "broken": f"the connection to {where} broke off during the response",
            }[_connection_failure(error)]
        elif isinstance(error, _OtherOrigin):
            text = (
                f"{where} redirected the request to {error.origin}, another server, and it was "
                "not sent there: if that server is the right one, set provider.base_url to it"
            )
        elif isinstance(error, _StreamBroken):
            text = f"{where}: {error}"
        elif isinstance(error, UnicodeEncodeError):
            # Our own request, not the endpoint's answer: text that UTF-8 cannot carry.
            text = (
                f"the request to {where} could not be sent: it holds text that is not valid Unicode"
            )
        elif isinstance(error, ValueError | openai.APIResponseValidationError | _NotAStream):
            # The client raises a bare JSONDecodeError (a ValueError) for a garbled body.
            text = f"{where} sent a malformed response (not the OpenAI chat format)"
        else:
            text = f"request to {where} failed: {type(error).__name__}: {error}"
        return redact(text, self._secret)


def _unusable(error: Exception) -> bool:
    import openai

    if isinstance(error, _OtherOrigin):
        return True

    if isinstance(error, openai.APIConnectionError):
        return _connection_failure(error) == "unreachable"
    return isinstance(
        error, openai.AuthenticationError | openai.PermissionDeniedError | openai.NotFoundError
    )


def _connection_failure(error: Exception) -> Literal["unreachable", "timeout", "broken"]:
    """Why a connection failed, read from the root of the exception chain.

    The openai error's own class is not enough: the aiohttp transport maps a refused
    connection and a server hanging up mid-answer to timeouts.
    """
    import aiohttp

    causes = []
    cause: BaseException | None = error
    while cause is not None and cause not in causes:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, aiohttp.ClientConnectorError) for c in causes):
        return "unreachable"  # refused, or a name that does not resolve: nothing is there
    if any(isinstance(c, TimeoutError) for c in causes):
        return "timeout"
    return "broken"


def _same_origin_as(base_url: str) -> Callable[[Any], Awaitable[None]]:
    """A request hook refusing any request (a redirect's) to an origin other than base_url's."""
    allowed = _origin(urlsplit(base_url))

    async def check(request: Any) -> None:
        origin = _origin(urlsplit(str(request.url)))
        if origin != allowed:
            raise _OtherOrigin(f"{origin[0]}://{origin[1]}")

    return check


def _origin(url: SplitResult) -> tuple[str, str]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    host = url.hostname or ""
    return url.scheme, f"{host}:{url.port or default_port}"


def redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def well_formed(text: str) -> str:
    """`text` with surrogates paired into characters, and lone ones (which no UTF-8 request
    body can carry) replaced by U+FFFD.

    JSON lets a model send `\\ud800` alone, and a surrogate pair split over two stream
    events decodes as two lone halves; a file name that is not UTF-8 comes from the
    filesystem as lone surrogates too.
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def from_model(text: str, secret: str) -> str:
    """A string the model sent, as the rest of the program may see it: well-formed, no key."""
    return redact(well_formed(text), secret)


def redact_streaming(text: str, secret: str) -> str:
    """`text` redacted, without an end that may be the start of the secret still streaming in."""
    redacted = redact(text, secret)
    for length in range(min(len(secret) - 1, len(redacted)), 0, -1):
        if redacted.endswith(secret[:length]):
            return redacted[:-length]
    return redacted


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None


def _server_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if isinstance(message, dict):
            message = message.get("message")
        if message:
            return str(message)[:300]
    return error.message[:300]


def _estimate_usage(messages: list[dict[str, Any]], text: str) -> Usage:
    """Some servers omit usage in streams; four characters a token is the usual estimate."""
    prompt = len(json.dumps(messages, ensure_ascii=False)) // 4
    return Usage(prompt, max(1, len(text) // 4))

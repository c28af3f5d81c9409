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

from orchestrator.budget import Claim, OverBudget, TokenBudget
from orchestrator.cancel import CancelToken
from orchestrator.config import ProviderConfig, is_local_endpoint
from orchestrator.context import CHARS_PER_TOKEN
from orchestrator.endpoint import Overlap, Stalled, Turn, endpoint_for

if TYPE_CHECKING:
    import openai

RETRY_AFTER_CAP = 60.0
MODELS_LIST_TIMEOUT = 10.0
_NO_OVERLAP = Overlap(0)
_RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


class LLMError(Exception):
    """A request failed for good; the message is meant for the user and holds no secret.

    `endpoint_unusable` marks failures every further request would repeat (bad key,
    unknown model, unreachable server), so that a run can stop early.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint_unusable: bool = False,
        tools_refused: bool = False,
        over_budget: bool = False,
    ) -> None:
        super().__init__(message)
        self.endpoint_unusable = endpoint_unusable
        # The endpoint answered 400 to a request offering tools: ask again without them.
        self.tools_refused = tools_refused
        # Not sent (or not retried): the run's token budget has no room for it.
        self.over_budget = over_budget


TurnListener = Callable[[Turn | None, Turn], None]
"""Told of each move of a request through the endpoint's queue: (from, to); from None at
first. A request goes to SENDING, or to WAITING and then SENDING, and always ends DONE."""


@dataclass(frozen=True)
class RunShare:
    """What a run asks of each of its requests besides the request itself."""

    budget: TokenBudget = field(default_factory=TokenBudget)  # orchestrator.max_tokens
    on_turn: TurnListener | None = None  # progress: why nothing moves while a request waits
    # Seconds a request may wait for its turn while no request to the endpoint ends.
    patience: float | None = None


NO_SHARE = RunShare()  # a request that belongs to no run: no budget, no listener


def pausing(deadline: CancelToken, then: TurnListener | None = None) -> TurnListener:
    """A listener that stops `deadline` while the request waits for its turn (a timeout
    counts work, not waiting), and then tells `then`."""

    def heard(before: Turn | None, after: Turn) -> None:
        if after is Turn.WAITING:
            deadline.pause()
        elif before is Turn.WAITING:
            deadline.resume()
        if then is not None:
            then(before, after)

    return heard


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

    def spent(self, messages: list[dict[str, Any]]) -> Usage:
        """What the request cost so far, as the server said or else estimated."""
        if self.usage != Usage():
            return self.usage
        return _estimate_usage(messages, "".join(self.content))

    def completion(self, model: str, messages: list[dict[str, Any]]) -> Completion:
        if self.chunks == 0:
            raise _NotAStream()
        if not self.finished:
            raise _StreamBroken("the stream ended before the model finished its answer")
        text = "".join(self.content)
        usage = self.spent(messages)
        tool_calls = [
            ToolCall(slot["id"] or f"call_{index}", slot["name"], slot["arguments"])
            for index, slot in sorted(self.calls.items())
        ]
        return Completion(text, tool_calls, usage, model)


@dataclass(frozen=True)
class _Ask:
    """One completion as the caller asked for it; the body sent follows what the endpoint takes."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    max_tokens: int | None
    json_object: bool
    on_attempt: Callable[[Usage, str], None] | None
    claim: Claim | None  # its hold on the run's token budget, if the run has one

    def body(self, refused: set[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.tools:
            body["tools"] = self.tools
            if "tool_choice" not in refused:
                # Without it, llama.cpp's function-calling chat formats drop the tools.
                body["tool_choice"] = "auto"
        if self.max_tokens:
            # OpenAI's reasoning models refuse max_tokens and name its successor.
            body["max_completion_tokens" if "max_tokens" in refused else "max_tokens"] = (
                self.max_tokens
            )
        if self.json_object and "response_format" not in refused:
            body["response_format"] = {"type": "json_object"}
        return body


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


class _Turns:
    """A request's moves through the queue, told once each to the run, and always to DONE."""

    def __init__(self, listener: TurnListener | None) -> None:
        self._listener = listener
        self._at: Turn | None = None

    def __call__(self, turn: Turn) -> None:
        if self._listener is not None and turn is not self._at and self._at is not Turn.DONE:
            before, self._at = self._at, turn
            self._listener(before, turn)

    def end(self) -> None:
        if self._at is not None:
            self(Turn.DONE)


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
        self._endpoint = endpoint_for(provider.base_url, provider.max_concurrent_requests)
        self._local = is_local_endpoint(provider.base_url)
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
        max_tokens: int | None = None,
        json_object: bool = False,
        on_attempt: Callable[[Usage, str], None] | None = None,
        share: RunShare = NO_SHARE,
        required: bool = False,
    ) -> Completion:
        """Stream one completion; raises Cancelled/DeadlineExceeded on cancel, LLMError on failure.

        `on_tokens` is called with the running count of streamed chunks so that progress can
        show an agent is alive; `on_text` with the text streamed so far, whenever it grows
        (a retry starts it again from nothing). Both are called on the transport thread.
        `on_attempt(usage, error)` hears of every request sent, retries and failures too
        (`error` is '' for the one that answered), so that usage counts what was spent.
        `json_object` asks for JSON mode where the endpoint takes it.

        The request first claims its worst case from `share.budget` (a `required` one is
        never refused), then waits for one of the endpoint's slots
        (provider.max_concurrent_requests), first come first served, and keeps it through its
        retries; `share.on_turn` hears of both waits.
        """
        cancel.raise_if_cancelled()
        listeners = _Listeners(on_tokens, on_text, self._secret)
        turns = _Turns(share.on_turn)
        claim: Claim | None = None
        try:
            if share.budget.limit is not None:
                claim = share.budget.claim(
                    _worst_case(messages, tools, max_tokens),
                    cancel,
                    required=required,
                    on_wait=lambda: turns(Turn.WAITING),
                )
            ask = _Ask(model, messages, tools, max_tokens, json_object, on_attempt, claim)
            with self._endpoint.slot(cancel, turns, share.patience) as slot:
                future = asyncio.run_coroutine_threadsafe(
                    self._with_retries(ask, listeners, cancel, slot.overlap), self._loop
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
        except OverBudget:
            raise LLMError(_over_budget(share.budget), over_budget=True) from None
        except Stalled as stalled:
            raise LLMError(self._stalled(stalled)) from None
        finally:
            if claim is not None:
                claim.close()
            turns.end()

    def _stalled(self, stalled: Stalled) -> str:
        return (
            f"waited {stalled.waited:.0f} s for a turn at {self.provider.base_url}, and none of "
            f"the {self._endpoint.limit} request(s) it takes at once "
            f"(provider.max_concurrent_requests) ended for {stalled.patience:.0f} s "
            "(orchestrator.phase_timeout): raise it if the endpoint is that slow"
        )

    @property
    def tools_refused(self) -> bool:
        """The endpoint answered 400 to a request offering tools, in this process."""
        return "tools" in self._endpoint.refused

    def context_window(self, model: str) -> int | None:
        """The endpoint's context window in tokens: provider.context_window, else what a local
        endpoint's models list tells (vLLM's max_model_len, for one), else None (unknown)."""
        if self.provider.context_window is not None:
            return self.provider.context_window
        endpoint = self._endpoint
        if not endpoint.window_known and self._local:
            future = asyncio.run_coroutine_threadsafe(self._listed_window(model), self._loop)
            try:
                # Short: the run waits for it, and a server without a models list says so fast.
                wait = min(self.provider.request_timeout, MODELS_LIST_TIMEOUT)
                endpoint.context_window = future.result(timeout=wait)
            except Exception:
                future.cancel()  # a server without a models list simply does not tell
            endpoint.window_known = True
        return endpoint.context_window

    async def _listed_window(self, model: str) -> int | None:
        listing = await self._openai().get("/models", cast_to=object)
        return listed_context_window(listing, model)

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
        ask: _Ask,
        listeners: _Listeners,
        cancel: CancelToken,
        overlap: Callable[[], Overlap],
    ) -> Completion:
        attempt = 0
        refused = self._endpoint.refused
        failed: Exception | None = None  # the attempt before this one, if it failed
        while True:
            if ask.claim is not None and failed is not None:
                try:
                    ask.claim.renew()
                except OverBudget:
                    message = self.describe(failed, ask.model)
                    raise LLMError(
                        f"{message}; not retried: {_over_budget(ask.claim.budget)}",
                        over_budget=True,
                    ) from None
            body = ask.body(refused)
            answer = _StreamedAnswer()
            try:
                completion = await self._stream(body, answer, listeners)
            except BaseException as error:
                spent = answer.spent(ask.messages)
                if ask.claim is not None:
                    ask.claim.spend(spent.total_tokens)
                if ask.on_attempt is not None:
                    ask.on_attempt(spent, _attempt_error(error))
                if not isinstance(error, Exception):
                    raise  # cancelled: the request is counted, the cancel goes on
                failed = error
                if (field_name := _refused_field(error, body)) is not None:
                    refused.add(field_name)
                    if field_name == "tools":
                        message = self.describe(error, ask.model)
                        raise LLMError(message, tools_refused=True) from None
                    continue  # the same request without what the endpoint does not take
                delay = self._retry_delay(error, attempt, cancel, overlap())
                if delay is None:
                    raise LLMError(
                        self.describe(error, ask.model, overlap()),
                        endpoint_unusable=_unusable(error),
                    ) from None
            else:
                if ask.claim is not None:
                    ask.claim.spend(completion.usage.total_tokens)
                if ask.on_attempt is not None:
                    ask.on_attempt(completion.usage, "")
                return completion
            attempt += 1
            await asyncio.sleep(delay)

    def _retry_delay(
        self, error: Exception, attempt: int, cancel: CancelToken, overlap: Overlap
    ) -> float | None:
        """Seconds to wait before trying again, or None when the error is final."""
        import openai

        if attempt >= self.provider.max_retries:
            return None
        if self._local and overlap.others and _cut_off(error):
            # A server that aborts a stream for each new request would only abort another.
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
        self, body: dict[str, Any], answer: _StreamedAnswer, listeners: _Listeners
    ) -> Completion:
        from openai import AsyncStream

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
        async with stream:
            async for chunk in stream:
                grew = answer.add(chunk)
                listeners.heard(answer, grew)
        # A model can be led to repeat the key (by an injection in the code it reads, or a
        # proxy that echoes headers): what it says reaches results, logs and the cache.
        return answer.completion(body["model"], body["messages"]).from_model(self._secret)

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

    def describe(self, error: Exception, model: str, overlap: Overlap = _NO_OVERLAP) -> str:
        """A message for the user: what failed and what to do, never the key."""
        text = self._describe(error, model)
        if self._local and _cut_off(error) and overlap.others:
            text += (
                f" while {overlap.others} other request(s) to this local server were in "
                "flight: a server that answers one request at a time (llama.cpp's server, by "
                "default) aborts the running answer when another request arrives; set "
                "provider.max_concurrent_requests: 1"
            )
        elif self._local and (_cut_off(error) or _garbled(error) or _mentions_context(error)):
            text += (
                "; a local server also ends answers like this when the prompt and the answer "
                "exceed its context window: start it with a larger context (llama.cpp: "
                "--ctx-size / --n_ctx; Ollama: num_ctx) or set provider.context_window to its "
                "size so that deepthink fits its prompts"
            )
        elif _mentions_context(error):
            text += "; set provider.context_window (and provider.max_output_tokens) to fit"
        return redact(text, self._secret)

    def _describe(self, error: Exception, model: str) -> str:
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
        elif isinstance(error, openai.APIError):
            # An error event inside a stream that had started well.
            text = f"{where} reported an error during the answer: {error.message[:300]}"
        else:
            text = f"request to {where} failed: {type(error).__name__}: {error}"
        return text


def listed_context_window(listing: object, model: str) -> int | None:
    """The context window a models list gives for `model` (or its only model), if any."""
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        return None
    models = [entry for entry in entries if isinstance(entry, dict)]
    only = models[0] if len(models) == 1 else None
    entry = next((m for m in models if m.get("id") == model), only)
    if entry is None:
        return None
    meta = entry.get("meta")
    # vLLM, then OpenRouter and LM Studio, then a llama.cpp server that reports its n_ctx.
    for value in (
        entry.get("max_model_len"),
        entry.get("context_length"),
        meta.get("n_ctx") if isinstance(meta, dict) else None,
    ):
        if isinstance(value, int) and value > 0:
            return value
    return None


def _refused_field(error: Exception, body: dict[str, Any]) -> str | None:
    """The optional request field a 400 names as not supported, if any.

    Seen: Ollama's "model does not support tools", vLLM's '"auto" tool choice requires
    --enable-auto-tool-choice', llama-server's "tools param requires --jinja flag", OpenAI's
    "Unsupported parameter: 'max_tokens' … use 'max_completion_tokens'".
    """
    import openai

    if not (isinstance(error, openai.APIStatusError) and error.status_code in (400, 422)):
        return None
    message = _server_message(error).lower()
    if not any(word in message for word in _REFUSING_WORDS):
        return None  # a 400 about something else, such as a malformed message
    if "tool_choice" in body and ("tool_choice" in message or "tool choice" in message):
        return "tool_choice"
    if "tools" in body and ("tool" in message or "function" in message):
        return "tools"
    if "response_format" in body and ("response_format" in message or "json" in message):
        return "response_format"
    if "max_tokens" in body and "max_completion_tokens" in message:
        return "max_tokens"
    return None


_REFUSING_WORDS = ("support", "requir", "enable", "permitted", "allowed", "unknown", "unrecogni")


def _cut_off(error: Exception) -> bool:
    """The answer stopped partway: a stream that ended early or a connection that broke."""
    import openai

    if isinstance(error, _StreamBroken):
        return True
    return isinstance(error, openai.APIConnectionError) and _connection_failure(error) == "broken"


def _mentions_context(error: Exception) -> bool:
    """An error the server explains with its context length (vLLM answers 400 so)."""
    import openai

    if isinstance(error, openai.APIStatusError):
        message = _server_message(error).lower()
    elif isinstance(error, openai.APIError):
        message = error.message.lower()
    else:
        return False
    return "context" in message and any(w in message for w in ("length", "window", "exceed"))


def _garbled(error: Exception) -> bool:
    import openai

    return isinstance(error, ValueError | openai.APIResponseValidationError | _NotAStream)


def _attempt_error(error: BaseException) -> str:
    """A short name for how an attempt ended, for the usage list."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, _StreamBroken):
        return "cut off"
    status = getattr(error, "status_code", None)
    return f"HTTP {status}" if status is not None else type(error).__name__


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


def _worst_case(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, max_tokens: int | None
) -> int:
    """The most tokens a request may take: its prompt, estimated, and all it may answer."""
    prompt = len(json.dumps(messages, ensure_ascii=False)) + len(json.dumps(tools or []))
    return prompt // CHARS_PER_TOKEN + (max_tokens or 0)


def _over_budget(budget: TokenBudget) -> str:
    return f"the run's token budget of {budget.limit:,} (orchestrator.max_tokens) is used up"


def _estimate_usage(messages: list[dict[str, Any]], text: str) -> Usage:
    """Some servers omit usage in streams; four characters a token is the usual estimate."""
    prompt = len(json.dumps(messages, ensure_ascii=False)) // 4
    return Usage(prompt, max(1, len(text) // 4))

"""The LLM transport against the scripted server: streaming, tool calls, faults, cancel."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from orchestrator.cancel import Cancelled, CancelToken, DeadlineExceeded
from orchestrator.config import ProviderConfig
from orchestrator.endpoint import Endpoint, Stalled, Turn
from orchestrator.llm import LLMClient, LLMError
from tests.llm_server import Reply, ScriptedLLMServer, ToolCall

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def client(llm_server: ScriptedLLMServer) -> Iterator[LLMClient]:
    provider = ProviderConfig(base_url=llm_server.base_url, max_retries=2, request_timeout=5)
    client = LLMClient(provider, "sk-test-secret")
    yield client
    client.close()


def complete(client: LLMClient, cancel: CancelToken | None = None) -> object:
    return client.complete(model="m", messages=MESSAGES, cancel=cancel or CancelToken())


def test_streamed_text_tool_calls_and_usage(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    text = "A fairly long answer that the server splits into several chunks."
    llm_server.add(
        None,
        Reply(content=text, tool_calls=[ToolCall("search", {"pattern": "def .*"})], usage=(11, 7)),
    )
    chunks: list[int] = []
    completion = client.complete(
        model="m", messages=MESSAGES, cancel=CancelToken(), on_tokens=chunks.append
    )
    assert completion.content == text
    assert [(c.name, c.arguments) for c in completion.tool_calls] == [
        ("search", '{"pattern": "def .*"}')
    ]
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 7)
    assert chunks == sorted(chunks) and len(chunks) > 3
    request = llm_server.requests[0]
    assert request.body["stream"] is True
    assert request.headers["authorization"] == "Bearer sk-test-secret"


def test_a_key_repeated_by_the_model_is_redacted(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(
        None,
        Reply(
            content="Your key is sk-test-secret.",
            tool_calls=[ToolCall("search", {"pattern": "sk-test-secret"})],
        ),
    )
    completion = client.complete(model="m", messages=MESSAGES, cancel=CancelToken())
    assert completion.content == "Your key is ***."
    assert [c.arguments for c in completion.tool_calls] == ['{"pattern": "***"}']


def test_streamed_text_is_redacted_before_any_listener_hears_it(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    # Three characters per event: the key arrives split over many events.
    text = '{"role": "sk-test-secret", "question": "say sk-test-secret"}'
    llm_server.add(None, Reply(content=text, pieces=len(text) // 3))
    heard: list[str] = []
    client.complete(model="m", messages=MESSAGES, cancel=CancelToken(), on_text=heard.append)
    assert len(heard) > 10
    assert heard[-1] == '{"role": "***", "question": "say ***"}'
    assert not any("sk-" in text for text in heard), "not even the start of the key"


@pytest.mark.parametrize(
    "fault",
    [
        Reply(status=503),
        Reply(status=429, headers={"Retry-After": "0.01"}),
        Reply(content="cut " * 50, truncate_after=3),
    ],
    ids=["503", "429", "cut stream"],
)
def test_transient_faults_are_retried(
    fault: Reply, llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, fault, times=1)
    llm_server.add(None, Reply(content="ok"))
    assert complete(client).content == "ok"  # type: ignore[attr-defined]
    assert len(llm_server.requests) == 2


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Reply(status=401), "rejected the API key (401): check the key in DEEPTHINK_API_KEY"),
        (Reply(status=404), "answered 404 for model 'm'"),
        (Reply(status=400, error_message="context too long"), "answered 400: context too long"),
        (Reply(raw_body="{not json"), "malformed response"),
    ],
    ids=["401", "404", "400", "garbage"],
)
def test_final_faults_are_reported_readably(
    fault: Reply, message: str, llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, fault)
    with pytest.raises(LLMError) as error:
        complete(client)
    assert message in str(error.value)
    assert len(llm_server.requests) == 1


def test_a_stream_that_never_finishes_is_an_error(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, Reply(content="half an answer", truncate_after=2))
    with pytest.raises(LLMError, match="broke off during the response"):
        complete(client)
    assert len(llm_server.requests) == 3, "two retries, then reported"


def test_keys_never_appear_in_errors(llm_server: ScriptedLLMServer, client: LLMClient) -> None:
    llm_server.add(None, Reply(status=400, error_message="bad key sk-test-secret for you"))
    with pytest.raises(LLMError) as error:
        complete(client)
    assert "sk-test-secret" not in str(error.value)
    assert "***" in str(error.value)


def test_retry_after_longer_than_the_deadline_is_not_waited_for(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, Reply(status=429, headers={"Retry-After": "30"}))
    with pytest.raises(LLMError, match="rate-limiting"):
        complete(client, CancelToken().child(timeout=5))
    assert len(llm_server.requests) == 1


def cancel_once_sent(llm_server: ScriptedLLMServer, token: CancelToken) -> None:
    """Cancel once the request reached the server: the client's first import may be slow."""

    def cancel() -> None:
        llm_server.wait_for_requests(1, timeout=30)
        time.sleep(0.1)  # into the request
        token.cancel()

    threading.Thread(target=cancel, daemon=True).start()


def test_cancel_aborts_the_request_in_flight(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, Reply(content="slow", delay=30))
    token = CancelToken()
    cancel_once_sent(llm_server, token)
    with pytest.raises(Cancelled):
        complete(client, token)
    (request,) = llm_server.wait_settled()
    assert request.aborted


def test_deadline_aborts_mid_stream(llm_server: ScriptedLLMServer, client: LLMClient) -> None:
    llm_server.add(None, Reply(content="ready"), times=1)
    complete(client, CancelToken())  # the deadline is for the stream, not the client's import
    llm_server.add(None, Reply(content="word " * 40, chunk_delay=0.5))
    with pytest.raises(DeadlineExceeded):
        complete(client, CancelToken().child(timeout=0.3))
    (_, request) = llm_server.wait_settled()
    assert request.aborted


def test_cancel_interrupts_the_wait_before_a_retry(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, Reply(status=429, headers={"Retry-After": "20"}))
    token = CancelToken()
    cancel_once_sent(llm_server, token)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        complete(client, token)
    assert time.monotonic() - started < 10, "did not sit out the Retry-After"
    assert len(llm_server.requests) == 1


def test_a_request_utf8_cannot_carry_is_not_blamed_on_the_endpoint(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, Reply(content="ok"))
    messages = [{"role": "user", "content": "a document holding \ud800"}]
    with pytest.raises(LLMError) as error:
        client.complete(model="m", messages=messages, cancel=CancelToken())
    assert "could not be sent: it holds text that is not valid Unicode" in str(error.value)
    assert "malformed" not in str(error.value)


def test_a_redirect_to_another_origin_is_not_followed(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    # localhost is another origin than 127.0.0.1, though the same scripted server would answer.
    port = llm_server.base_url.split(":")[2].split("/")[0]
    elsewhere = f"http://localhost:{port}/v1/chat/completions?token=x"
    llm_server.add(None, Reply(status=307, headers={"Location": elsewhere}), times=1)
    llm_server.add(None, Reply(content="followed"))

    with pytest.raises(LLMError) as error:
        complete(client)

    assert str(error.value) == (
        f"{llm_server.base_url} redirected the request to http://localhost:{port}, another "
        "server, and it was not sent there: if that server is the right one, set "
        "provider.base_url to it"
    )
    assert error.value.endpoint_unusable
    assert len(llm_server.requests) == 1


def test_a_redirect_within_the_origin_is_followed(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, Reply(status=307, headers={"Location": "/v1/chat/completions"}), times=1)
    llm_server.add(None, Reply(content="followed"))
    assert complete(client).content == "followed"  # type: ignore[attr-defined]
    assert len(llm_server.requests) == 2


def test_every_attempt_is_reported_with_how_it_ended(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, Reply(status=503), times=1)
    llm_server.add(None, Reply(content="ok", usage=(5, 1)))
    attempts: list[tuple[int, str]] = []
    client.complete(
        model="m",
        messages=MESSAGES,
        cancel=CancelToken(),
        on_attempt=lambda usage, error: attempts.append((usage.prompt_tokens, error)),
    )
    assert attempts[0][1] == "HTTP 503" and attempts[0][0] > 0, "a failed request costs too"
    assert attempts[1] == (5, "")


@pytest.mark.parametrize(
    ("message", "dropped", "kept"),
    [
        ("Unsupported parameter: 'max_tokens'; use 'max_completion_tokens'", "max_tokens", None),
        ("tool_choice is not supported", "tool_choice", "tools"),
        ("response_format json_object unsupported", "response_format", None),
    ],
)
def test_a_refused_field_is_dropped_and_remembered(
    llm_server: ScriptedLLMServer, message: str, dropped: str, kept: str | None
) -> None:
    provider = ProviderConfig(base_url=llm_server.base_url, max_retries=0)
    llm_server.add(lambda body: dropped in body, Reply(status=400, error_message=message))
    llm_server.add(None, Reply(content="ok"))
    tools = [{"type": "function", "function": {"name": "t", "parameters": {}}}]
    client = LLMClient(provider, "k")
    try:
        for _ in range(2):
            client.complete(
                model="m",
                messages=MESSAGES,
                cancel=CancelToken(),
                tools=tools,
                max_tokens=50,
                json_object=True,
            )
    finally:
        client.close()
    first, retried, later = llm_server.requests
    assert dropped in first.body and dropped not in retried.body and dropped not in later.body
    if kept:
        assert kept in later.body
    if dropped == "max_tokens":
        assert later.body["max_completion_tokens"] == 50


def test_tools_refused_are_reported_as_such(
    llm_server: ScriptedLLMServer, client: LLMClient
) -> None:
    llm_server.add(None, Reply(status=400, error_message="this model does not support tools"))
    tools = [{"type": "function", "function": {"name": "t", "parameters": {}}}]
    with pytest.raises(LLMError) as error:
        client.complete(model="m", messages=MESSAGES, cancel=CancelToken(), tools=tools)
    assert error.value.tools_refused and client.tools_refused


def test_a_request_waits_for_a_slot_and_a_cancel_ends_the_wait(
    llm_server: ScriptedLLMServer,
) -> None:
    provider = ProviderConfig(base_url=llm_server.base_url, max_concurrent_requests=1)
    llm_server.add(None, Reply(content="slow", delay=30))
    client = LLMClient(provider, "k")
    first, second = CancelToken(), CancelToken()
    outcomes: list[str] = []

    def ask(token: CancelToken) -> None:
        try:
            complete(client, token)
        except Cancelled:
            outcomes.append("cancelled")

    holder = threading.Thread(target=ask, args=(first,))
    holder.start()
    llm_server.wait_for_requests(1)
    waiter = threading.Thread(target=ask, args=(second,))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and len(llm_server.requests) == 1, "the second waits its turn"
    second.cancel()
    waiter.join(5)
    first.cancel()
    holder.join(5)
    client.close()
    assert outcomes == ["cancelled", "cancelled"]
    assert len(llm_server.requests) == 1, "the cancelled wait never sent its request"


def test_requests_waiting_for_a_slot_are_served_first_come_first_served() -> None:
    endpoint = Endpoint("http://127.0.0.1:9/v1", limit=1)
    order: list[int] = []
    queued = threading.Semaphore(0)

    def ask(number: int) -> None:
        def heard(turn: Turn) -> None:
            if turn is Turn.WAITING:
                queued.release()
            elif turn is Turn.SENDING:
                order.append(number)

        with endpoint.slot(CancelToken(), heard):
            pass

    with endpoint.slot(CancelToken()):
        waiters = []
        for number in range(4):
            waiters.append(threading.Thread(target=ask, args=(number,)))
            waiters[-1].start()
            assert queued.acquire(timeout=5), "each waits behind the slot held"
    for waiter in waiters:
        waiter.join(5)
    assert order == [0, 1, 2, 3]


def test_a_wait_that_the_endpoint_never_ends_is_bounded_by_patience() -> None:
    endpoint = Endpoint("http://127.0.0.1:9/v1", limit=1)
    with (
        endpoint.slot(CancelToken()),
        pytest.raises(Stalled),
        endpoint.slot(CancelToken(), patience=0.2),
    ):
        pass
    with endpoint.slot(CancelToken()):  # the queue was left: the slot is free again
        pass


def test_a_paused_deadline_stands_still_and_then_runs_on() -> None:
    token = CancelToken().child(0.2)
    token.pause()
    assert not token.wait(0.5), "no deadline passes while paused"
    assert (token.remaining() or 0) > 0
    token.resume()
    assert token.wait(5) and token.reason == "timeout"

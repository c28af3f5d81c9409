"""The scripted LLM server, exercised through the real openai client over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.llm_server import Reply, ScriptedLLMServer, ToolCall

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def llm() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture
def client(llm: ScriptedLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=llm.base_url, api_key="test-key", max_retries=0, timeout=10
    ) as sync_client:
        yield sync_client


def ask(client: openai.OpenAI, text: str, **kwargs: Any) -> Any:
    return client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": text}], **kwargs
    )


def test_non_stream_text_reply_with_usage(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    llm.add("explain", Reply(content="It adds two numbers.", usage=(11, 7)))

    completion = ask(client, "explain add()")

    assert completion.model == "test-model"
    assert completion.choices[0].message.content == "It adds two numbers."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 7)
    assert completion.usage.total_tokens == 18
    (request,) = llm.wait_settled()
    assert request.path == "/v1/chat/completions"
    assert request.model == "test-model"
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.rule == 0
    assert request.finished is not None and not request.aborted


def test_usage_is_estimated_when_not_scripted(
    llm: ScriptedLLMServer, client: openai.OpenAI
) -> None:
    llm.add(None, Reply(content="x" * 40))

    usage = ask(client, "hello").usage

    assert usage is not None
    assert usage.completion_tokens == 10
    assert usage.prompt_tokens >= 1


def test_streaming_text_reassembles_exactly(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    text = "  Two  spaces, a newline\nand a supercalifragilisticexpialidocious word — ünïcode. "
    llm.add(None, Reply(content=text))

    chunks = list(ask(client, "stream it", stream=True))

    pieces = [chunk.choices[0].delta.content or "" for chunk in chunks]
    assert "".join(pieces) == text
    assert sum(1 for piece in pieces if piece) > 5
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.model == "test-model" for chunk in chunks)
    # The pooled keep-alive connection still works after a stream.
    assert ask(client, "again").choices[0].message.content == text


def test_streamed_tool_call_reassembles(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    arguments = {"path": "src/app.py", "lines": [1, 200], "reason": "find the bug in parse()"}
    llm.add(
        None,
        Reply(
            content="Let me look.",
            tool_calls=[ToolCall("read_file", arguments, id="call_1"), ToolCall("list_dir", {})],
        ),
    )

    stream = ask(client, "read", stream=True, stream_options={"include_usage": True})
    content, reasons, usage = "", [], None
    calls: dict[int, dict[str, str]] = {}
    for chunk in stream:
        if not chunk.choices:
            usage = chunk.usage
            continue
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        reasons.append(choice.finish_reason)
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""

    assert content == "Let me look."
    assert calls[0]["id"] == "call_1"
    assert calls[0]["name"] == "read_file"
    assert json.loads(calls[0]["arguments"]) == arguments
    assert calls[1]["name"] == "list_dir" and json.loads(calls[1]["arguments"]) == {}
    assert calls[1]["id"]
    assert reasons[-1] == "tool_calls"
    assert usage is not None and usage.total_tokens > 0


def test_invalid_tool_arguments_are_sent_verbatim(
    llm: ScriptedLLMServer, client: openai.OpenAI
) -> None:
    broken = '{"path": "a.py", '
    llm.add(None, Reply(tool_calls=[ToolCall("read_file", broken)]))

    message = ask(client, "read").choices[0].message

    assert message.content is None
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.arguments == broken


def test_rate_limit_carries_retry_after(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    llm.add(None, Reply(status=429, error_message="slow down", headers={"Retry-After": "1"}))

    with pytest.raises(openai.RateLimitError) as raised:
        ask(client, "hi")

    assert raised.value.status_code == 429
    assert raised.value.response.headers["retry-after"] == "1"
    assert "slow down" in raised.value.message


def test_server_error(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    llm.add(None, Reply(status=500, error_message="overloaded"))

    with pytest.raises(openai.InternalServerError, match="overloaded"):
        ask(client, "hi", stream=True)


def test_malformed_body_raises(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    llm.add(None, Reply(raw_body='{"id": "chatcmpl-1", "choices": ['))

    # openai parses a JSON content type with json.loads and does not wrap the error.
    with pytest.raises(json.JSONDecodeError):
        ask(client, "hi")


@pytest.mark.parametrize("stream", [True, False])
def test_truncated_response_raises(
    llm: ScriptedLLMServer, client: openai.OpenAI, stream: bool
) -> None:
    llm.add(None, Reply(content="one two three four five six seven", truncate_after=3))

    with pytest.raises(openai.APIConnectionError):
        response = ask(client, "hi", stream=stream)
        for _ in response:
            pass

    (request,) = llm.wait_settled()
    assert request.finished is not None and not request.aborted


def test_rules_are_tried_in_order_and_used_up(
    llm: ScriptedLLMServer, client: openai.OpenAI
) -> None:
    llm.add("plan", Reply(content="first plan"), times=1)
    llm.add("plan", Reply(content="later plans"))
    llm.add(None, Reply(content="fallback"))

    answers = [ask(client, text).choices[0].message.content for text in ("plan", "plan", "other")]

    assert answers == ["first plan", "later plans", "fallback"]
    assert [request.rule for request in llm.requests] == [0, 1, 2]


def test_callable_match_and_reply(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    def echo(body: dict[str, Any]) -> Reply:
        return Reply(content=body["messages"][-1]["content"].upper())

    llm.add(lambda body: body.get("temperature") == 0, echo)
    llm.add(None, Reply(content="warm"))

    assert ask(client, "shout", temperature=0).choices[0].message.content == "SHOUT"
    assert ask(client, "shout", temperature=1).choices[0].message.content == "warm"


def test_unmatched_request_is_500_and_recorded(
    llm: ScriptedLLMServer, client: openai.OpenAI
) -> None:
    llm.add("something else", Reply(content="never"))

    with pytest.raises(openai.InternalServerError, match="no rule matched"):
        ask(client, "unscripted question")

    (request,) = llm.requests
    assert request.rule is None
    assert "unscripted question" in request.messages_text


def test_concurrent_requests_overlap(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    llm.add(None, Reply(content="done", delay=0.3))

    threads = [threading.Thread(target=ask, args=(client, f"q{i}")) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    requests = llm.wait_settled()
    assert len(requests) == 4
    finished = [request.finished for request in requests if request.finished is not None]
    assert len(finished) == 4
    assert max(request.started for request in requests) < min(finished)


async def test_client_cancellation_is_seen_as_abort(llm: ScriptedLLMServer) -> None:
    llm.add(None, Reply(content="too late", delay=5))
    async with openai.AsyncOpenAI(
        base_url=llm.base_url, api_key="test-key", max_retries=0, timeout=10
    ) as async_client:
        task = asyncio.create_task(
            async_client.chat.completions.create(
                model="test-model", messages=[{"role": "user", "content": "slow"}]
            )
        )
        await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

        (request,) = await asyncio.to_thread(llm.wait_settled, 1.5)

    assert request.aborted and request.finished is None
    started = time.monotonic()
    llm.stop()
    assert time.monotonic() - started < 2


def test_stop_is_prompt_with_a_request_in_flight(
    llm: ScriptedLLMServer, client: openai.OpenAI
) -> None:
    llm.add(None, Reply(content="too late", delay=30))
    errors: list[Exception] = []

    def call() -> None:
        try:
            ask(client, "slow")
        except openai.APIConnectionError as err:
            errors.append(err)

    caller = threading.Thread(target=call)
    caller.start()
    llm.wait_for_requests(1)
    started = time.monotonic()
    llm.stop()
    caller.join(timeout=5)

    assert time.monotonic() - started < 2
    assert len(errors) == 1


def test_models_lists_seen_and_default(llm: ScriptedLLMServer, client: openai.OpenAI) -> None:
    llm.add(None, Reply(content="ok"))
    ask(client, "hi")

    names = [model.id for model in client.models.list()]

    assert names[0] == "test-model"
    assert "gpt-4o-mini" in names
    assert len(names) == len(set(names))


def test_standalone_process_serves_a_script(tmp_path: Path) -> None:
    script = tmp_path / "rules.json"
    rule = {"match": "ping", "reply": {"content": "pong", "usage": [3, 1]}, "times": None}
    script.write_text(json.dumps([rule]))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.llm_server", "--script", str(script)],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        with openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0) as remote:
            completion = ask(remote, "ping")
        assert completion.choices[0].message.content == "pong"
        assert completion.usage is not None and completion.usage.prompt_tokens == 3
    finally:
        assert process.stdin is not None
        process.stdin.close()  # closing stdin is how the parent stops it
        try:
            returncode = process.wait(timeout=5)
        finally:
            process.kill()  # no-op once it has exited; never leak the server
    assert returncode == 0

"""Benchmarks: run with `.venv/bin/python -m tests.benchmarks.bench` (not part of the tests).

Every figure comes from the scripted LLM server with fixed injected latencies,
measured side by side in one run, and is printed as a table ready for the README:
first the engine in this process (scaling, speed-up, prompt prefix), then the real
language server in a subprocess (request latency, cancel, start-up, memory; see
server_bench).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp

from orchestrator.cancel import CancelToken
from orchestrator.config import Config, validate
from orchestrator.decompose import streamed_subtasks
from orchestrator.endpoint import endpoint_for
from orchestrator.engine import Orchestrator
from orchestrator.llm import LLMClient
from orchestrator.request import Mode, Request
from orchestrator.workspace import Workspace
from tests import scenarios
from tests.benchmarks import heavy_bench, server_bench
from tests.benchmarks.llm_process import LLMServerProcess
from tests.llm_server import RecordedRequest, Reply, ScriptedLLMServer, ToolCall, reply_pieces

DECOMPOSE_LATENCY = 0.20  # until the whole plan has arrived
DECOMPOSE_FIRST_TOKEN = 0.05  # then the plan streams in evenly, as a model writes it
TOOL_TURN_LATENCY = 0.10
SYNTHESIS_LATENCY = 0.20
SAMPLE = Path(__file__).resolve().parents[2] / "orchestrator" / "engine.py"


def answer_latency(agent: int) -> float:
    """Agents differ, so the critical path is set by the slowest one."""
    return 0.15 + 0.05 * (agent % 4)


def plan_reply(agents: int, streamed: bool) -> Reply:
    """The plan, streamed in over the decomposition latency, or all at once at its end."""
    content = scenarios.plan(agents)
    if not streamed:
        return Reply(content=content, delay=DECOMPOSE_LATENCY)
    # A piece about a sub-question long per event: a model's token-sized events, at the pace
    # this compressed time scale would need, would measure the scripted server's threads.
    # The stream is a role event, the pieces, a finish event, a usage event and [DONE].
    pause = (DECOMPOSE_LATENCY - DECOMPOSE_FIRST_TOKEN) / (agents + 3)
    return Reply(content=content, delay=DECOMPOSE_FIRST_TOKEN, chunk_delay=pause, pieces=agents)


def script(llm: ScriptedLLMServer, agents: int, streamed: bool = True) -> None:
    llm.add(scenarios.DECOMPOSE, plan_reply(agents, streamed))

    def agent(body: dict[str, Any]) -> Reply:
        number = scenarios.agent_number(body)
        if not any(message["role"] == "tool" for message in body["messages"]):
            call = ToolCall("read_file", {"path": "orchestrator/engine.py", "end_line": 40})
            return Reply(tool_calls=[call], delay=TOOL_TURN_LATENCY)
        return Reply(content=f"Answer {number}: see `engine.py:12`.", delay=answer_latency(number))

    llm.add(scenarios.is_agent, agent)
    llm.add(scenarios.SYNTHESIS, Reply(content="Merged answer.", delay=SYNTHESIS_LATENCY))


def critical_path(agents: int, streamed_plan: bool = True) -> float:
    """The scripted latencies alone: the agent that can finish last, then synthesis.

    Each agent can start once its sub-question has arrived, and synthesis once the plan
    is complete too.
    """
    starts = plan_arrivals(agents) if streamed_plan else [DECOMPOSE_LATENCY] * agents
    last = max(
        start + TOOL_TURN_LATENCY + answer_latency(number)
        for number, start in enumerate(starts, start=1)
    )
    return max(last, DECOMPOSE_LATENCY) + SYNTHESIS_LATENCY


def plan_arrivals(agents: int) -> list[float]:
    """When each sub-question has streamed in whole, by the engine's own reading of the plan."""
    reply = plan_reply(agents, streamed=True)
    arrivals: list[float] = []
    text = ""
    # The role event goes out after `delay`; content piece n follows n pauses later.
    for number, piece in enumerate(reply_pieces(reply), start=1):
        text += piece
        whole = len(streamed_subtasks(text, agents))
        arrivals += [reply.delay + number * reply.chunk_delay] * (whole - len(arrivals))
    return arrivals


def engine_config(base_url: str, agents: int, concurrency: int | None) -> Config:
    return validate(
        {
            "provider": {
                "base_url": base_url,
                "model": "bench",
                "max_retries": 0,
                "max_concurrent_requests": concurrency,
            },
            "orchestrator": {"parallel_agents": agents},
            "cache": {"enabled": False},
        },
        "benchmark",
    )


def run_engine(
    llm: LLMServerProcess,
    client: LLMClient,
    agents: int,
    concurrency: int | None,
    streamed_plan: bool = True,
) -> tuple[float, list[RecordedRequest]]:
    llm.reset(agents, streamed_plan)
    config = engine_config(llm.base_url, agents, concurrency)
    orchestrator = Orchestrator(config, Workspace(SAMPLE.parents[1]), client)
    text = SAMPLE.read_text()
    request = Request(
        Mode.EXPLAIN, "orchestrator/engine.py", text.splitlines()[40], 41, 41,
        context=text[:6000],
    )  # fmt: skip
    started = time.perf_counter()
    result = orchestrator.run(request)
    elapsed = time.perf_counter() - started
    assert result.status.value == "done", result.failures
    return elapsed, llm.requests()


def run_sequential(llm: LLMServerProcess, agents: int) -> float:
    """A run with one request at a time to the endpoint, on a client of its own: the limit is
    the endpoint's, set by the client (as the language server makes a new client when the
    setting changes)."""
    client = LLMClient(engine_config(llm.base_url, agents, 1).provider, "bench-key")
    try:
        run_engine(llm, client, 1, 1)  # warm-up of this client
        return run_engine(llm, client, agents, 1)[0]
    finally:
        client.close()
        endpoint_for(llm.base_url, None)  # the shared client's setting, no limit, again


def shared_prefix_share(requests: list[RecordedRequest]) -> float:
    """Characters that every agent's first request shares from the start, over their mean size."""
    first_turns = [
        json.dumps(r.body["messages"], ensure_ascii=False)
        for r in requests
        if r.body
        and scenarios.is_agent(r.body)
        and not any(m["role"] == "tool" for m in r.body["messages"])
    ]
    shortest = min(first_turns, key=len)
    shared = next(
        (i for i, ch in enumerate(shortest) if any(t[i] != ch for t in first_turns)),
        len(shortest),
    )
    return shared / statistics.mean(len(t) for t in first_turns)


def scaling_row(
    llm: LLMServerProcess, client: LLMClient, agents: int, runs: int
) -> tuple[str, float]:
    """One table row for `agents`, and the prompt-prefix share measured in the same runs."""
    measured = [run_engine(llm, client, agents, None) for _ in range(runs)]
    parallel = min(wall for wall, _ in measured)
    path = critical_path(agents)
    at_once = min(run_engine(llm, client, agents, None, False)[0] for _ in range(runs))
    path_at_once = critical_path(agents, streamed_plan=False)
    cells = [
        str(agents),
        f"{parallel:.3f}",
        f"{path:.3f}",
        f"{parallel / path:.3f}",
        f"{(parallel - path) / agents * 1000:.1f}",
        f"{at_once / path_at_once:.3f}",
    ]
    if agents <= 16:  # 64 agents one after another would take a minute and say nothing new
        sequential = run_sequential(llm, agents)
        cells += [f"{sequential:.2f}", f"{sequential / parallel:.1f}x"]
    else:
        cells += ["—", "—"]
    return "| " + " | ".join(cells) + " |", shared_prefix_share(measured[0][1])


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def engine_table(runs: int) -> None:
    print(
        f"Engine, in process: latencies decompose {DECOMPOSE_LATENCY}s (first token "
        f"{DECOMPOSE_FIRST_TOKEN}s), tool turn {TOOL_TURN_LATENCY}s, answers 0.15-0.30s, "
        f"synthesis {SYNTHESIS_LATENCY}s\n"
    )
    header = [
        "agents",
        "wall (s)",
        "critical path (s)",
        "wall / path",
        "overhead per agent (ms)",
        "wall / path, plan at once",
        "sequential (s)",
        "speed-up",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    shares = []
    # One client for every run, as the language server keeps one for every job.
    with LLMServerProcess(script, 2) as llm:
        client = LLMClient(engine_config(llm.base_url, 2, None).provider, "bench-key")
        try:
            run_engine(llm, client, 2, None)  # warm-up: the first request imports openai
            for agents in (1, 4, 16, 64):
                row, share = scaling_row(llm, client, agents, runs)
                print(row, flush=True)
                if agents > 1:
                    shares.append(share)
        finally:
            client.close()
    print(f"\nshared prompt prefix across agents: min {min(shares):.1%} (target >= 80%)\n")


def plain_answer(llm: ScriptedLLMServer) -> None:
    llm.add(None, Reply(content="Answer 1: see `engine.py:12`. " * 3))


def transport_cpu(requests: int) -> None:
    """Where the overhead of many agents goes: client CPU per streamed request, one at a time.

    The same request through LLMClient (the openai client on aiohttp) and through bare
    aiohttp, which still parses every event, side by side.
    """
    messages = [{"role": "user", "content": SAMPLE.read_text()[:6000]}]
    with LLMServerProcess(plain_answer) as llm:
        client = LLMClient(engine_config(llm.base_url, 1, None).provider, "bench-key")
        try:

            def through_client() -> None:
                client.complete(model="bench", messages=messages, cancel=CancelToken())

            for _ in range(20):  # warm-up, and the openai import
                through_client()
            started = time.process_time()
            for _ in range(requests):
                through_client()
            ours = (time.process_time() - started) / requests
        finally:
            client.close()
        bare = asyncio.run(bare_aiohttp_cpu(llm.base_url, messages, requests))
    print(
        f"client CPU per streamed request, one at a time: {ours * 1000:.2f} ms through "
        f"the openai client, {bare * 1000:.2f} ms with bare aiohttp ({ours / bare:.1f}x)\n"
    )


async def bare_aiohttp_cpu(base_url: str, messages: list[dict[str, Any]], requests: int) -> float:
    body = {"model": "bench", "messages": messages, "stream": True}
    headers = {"Authorization": "Bearer bench-key"}
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            url = f"{base_url}/chat/completions"
            async with session.post(url, json=body, headers=headers) as response:
                async for line in response.content:
                    if line.startswith(b"data: {"):
                        json.loads(line[6:])

        for _ in range(20):
            await one()
        started = time.process_time()
        for _ in range(requests):
            await one()
        return (time.process_time() - started) / requests


def server_tables(runs: int) -> None:
    print(
        f"Language server over stdio: {server_bench.JOBS} jobs of {server_bench.AGENTS} agents "
        f"streaming ~{1 / server_bench.STREAM_CHUNK_DELAY:.0f} chunks/s each; "
        f"{server_bench.SAMPLES} requests of each kind per condition\n"
    )
    figures = asyncio.run(server_bench.measure(runs))
    print(server_bench.tables(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="engine runs per row, the best kept; cancels per moment, the worst shown",
    )
    parser.add_argument("--only", choices=["engine", "heavy", "server"], help="run one part only")
    args = parser.parse_args()
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at start\n"
    )
    if args.only in (None, "engine"):
        engine_table(args.runs)
        transport_cpu(300)
    if args.only in (None, "heavy"):
        heavy_bench.heavy_table(args.runs)
    if args.only in (None, "server"):
        server_tables(args.runs)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

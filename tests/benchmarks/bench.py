"""Benchmarks: run with `.venv/bin/python -m tests.benchmarks.bench` (not part of the tests).

Every figure comes from the scripted LLM server with fixed injected latencies,
measured side by side in one run, and is printed as a table ready for the README.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from orchestrator.config import Config, validate
from orchestrator.engine import Orchestrator
from orchestrator.llm import LLMClient
from orchestrator.request import Mode, Request
from orchestrator.workspace import Workspace
from tests import scenarios
from tests.llm_server import RecordedRequest, Reply, ScriptedLLMServer, ToolCall

DECOMPOSE_LATENCY = 0.20
TOOL_TURN_LATENCY = 0.10
SYNTHESIS_LATENCY = 0.20
SAMPLE = Path(__file__).resolve().parents[2] / "orchestrator" / "engine.py"


def answer_latency(agent: int) -> float:
    """Agents differ, so the critical path is set by the slowest one."""
    return 0.15 + 0.05 * (agent % 4)


def script(llm: ScriptedLLMServer, agents: int) -> None:
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(agents), delay=DECOMPOSE_LATENCY))

    def agent(body: dict[str, Any]) -> Reply:
        number = scenarios.agent_number(body)
        if not any(message["role"] == "tool" for message in body["messages"]):
            call = ToolCall("read_file", {"path": "orchestrator/engine.py", "end_line": 40})
            return Reply(tool_calls=[call], delay=TOOL_TURN_LATENCY)
        return Reply(content=f"Answer {number}: see `engine.py:12`.", delay=answer_latency(number))

    llm.add(scenarios.is_agent, agent)
    llm.add(scenarios.SYNTHESIS, Reply(content="Merged answer.", delay=SYNTHESIS_LATENCY))


def critical_path(agents: int) -> float:
    slowest = max(answer_latency(n) for n in range(1, agents + 1))
    return DECOMPOSE_LATENCY + TOOL_TURN_LATENCY + slowest + SYNTHESIS_LATENCY


def serve(agents: int, pipe: Connection) -> None:
    """The scripted server in its own process, so that it does not compete for our GIL."""
    with ScriptedLLMServer() as llm:
        script(llm, agents)
        pipe.send(llm.base_url)
        pipe.recv()  # the run is over
        pipe.send(llm.requests)


def run_engine(agents: int, concurrency: int | None) -> tuple[float, list[RecordedRequest]]:
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(agents, theirs), daemon=True)
    server.start()
    base_url = ours.recv()
    try:
        config: Config = validate(
            {
                "provider": {"base_url": base_url, "model": "bench", "max_retries": 0},
                "orchestrator": {
                    "parallel_agents": agents,
                    "max_concurrent_agents": concurrency,
                },
                "cache": {"enabled": False},
            },
            "benchmark",
        )
        client = LLMClient(config.provider, "bench-key")
        orchestrator = Orchestrator(config, Workspace(SAMPLE.parents[1]), client)
        text = SAMPLE.read_text()
        request = Request(
            Mode.EXPLAIN, "orchestrator/engine.py", text.splitlines()[40], 41, 41,
            context=text[:6000],
        )  # fmt: skip
        started = time.perf_counter()
        result = orchestrator.run(request)
        elapsed = time.perf_counter() - started
        client.close()
        assert result.status.value == "done", result.failures
        ours.send("done")
        return elapsed, ours.recv()
    finally:
        server.join(timeout=10)


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


def scaling_row(agents: int, runs: int) -> tuple[str, float]:
    """One table row for `agents`, and the prompt-prefix share measured in the same runs."""
    measured = [run_engine(agents, None) for _ in range(runs)]
    parallel = min(wall for wall, _ in measured)
    path = critical_path(agents)
    cells = [str(agents), f"{parallel:.3f}", f"{path:.3f}", f"{parallel / path:.3f}"]
    if agents <= 16:  # 64 agents one after another would take a minute and say nothing new
        sequential = run_engine(agents, 1)[0]
        cells += [f"{sequential:.2f}", f"{sequential / parallel:.1f}x"]
    else:
        cells += ["—", "—"]
    return "| " + " | ".join(cells) + " |", shared_prefix_share(measured[0][1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="repetitions; the best is kept")
    args = parser.parse_args()
    cores = os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(
        f"latencies: decompose {DECOMPOSE_LATENCY}s, tool turn {TOOL_TURN_LATENCY}s, "
        f"answers 0.15-0.30s, synthesis {SYNTHESIS_LATENCY}s\n"
    )
    run_engine(2, None)  # warm-up: the first request of a process pays for lazy imports
    header = [
        "agents",
        "wall (s)",
        "critical path (s)",
        "wall / path",
        "sequential (s)",
        "speed-up",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    shares = []
    for agents in (1, 4, 16, 64):
        row, share = scaling_row(agents, args.runs)
        print(row)
        if agents > 1:
            shares.append(share)
    print(f"\nshared prompt prefix across agents: min {min(shares):.1%} (target >= 80%)")


if __name__ == "__main__":
    main()

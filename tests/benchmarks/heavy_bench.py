"""What the review passes after the agents cost in time: peer ranking and the skeptic pass.

Each pass is one round of parallel calls with a fixed scripted latency, so its critical
path is that latency. Its wall time is read from the progress (from the phase starting to
the next one starting), so it includes the engine's own work around the calls: grounding,
merging, prompts, threads. Run through `python -m tests.benchmarks.bench --only heavy`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

from orchestrator.config import Config, validate
from orchestrator.engine import Orchestrator
from orchestrator.llm import LLMClient
from orchestrator.progress import Phase, Progress, Snapshot
from orchestrator.request import Mode, Request
from orchestrator.workspace import Workspace
from tests import scenarios
from tests.benchmarks.llm_process import LLMServerProcess
from tests.llm_server import Reply, ScriptedLLMServer

RANK_LATENCY = 0.15
VERIFY_LATENCY = 0.15
ANSWER_LATENCY = 0.20
SYNTHESIS_LATENCY = 0.20
RANKER = "You judge"  # in prompts.RANK_SYSTEM
ROOT = Path(__file__).resolve().parents[2]
FILE = "orchestrator/engine.py"


def quotable_lines() -> list[tuple[int, str]]:
    """Lines of the reviewed file that appear once in it, for findings to quote."""
    lines = (ROOT / FILE).read_text().splitlines()
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.strip()] = counts.get(line.strip(), 0) + 1
    return [
        (n, line.strip())
        for n, line in enumerate(lines, 1)
        if len(line.strip()) > 20 and counts[line.strip()] == 1
    ]


def script(llm: ScriptedLLMServer, agents: int) -> None:
    """Every agent reports one problem all of them see and one of its own."""
    quotable = quotable_lines()
    shared_line, shared_code = quotable[0]

    def agent(body: dict[str, Any]) -> Reply:
        number = scenarios.agent_number(body)
        own_line, own_code = quotable[number]
        findings = [
            {"path": FILE, "line": shared_line, "message": "a shared problem here",
             "quote": shared_code},
            {"path": FILE, "line": own_line, "message": f"problem {number} of its own",
             "quote": own_code},
        ]  # fmt: skip
        return Reply(
            content=f"Answer {number}." + scenarios.findings_block(findings),
            delay=ANSWER_LATENCY,
        )

    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(agents)))
    llm.add(scenarios.is_agent, agent)

    def ranker(body: dict[str, Any]) -> Reply:
        letters = re.findall(r"## Response (\w+)", body["messages"][-1]["content"])
        return Reply(content=json.dumps({"ranking": letters}), delay=RANK_LATENCY)

    llm.add(RANKER, ranker)
    synthesis = "The review, merged." + scenarios.findings_block([])
    llm.add(scenarios.SYNTHESIS, Reply(content=synthesis, delay=SYNTHESIS_LATENCY))
    llm.add(scenarios.SKEPTIC, Reply(content=scenarios.CONFIRMED, delay=VERIFY_LATENCY))


def config(base_url: str, agents: int) -> Config:
    return validate(
        {
            "provider": {"base_url": base_url, "model": "bench", "max_retries": 0},
            "orchestrator": {"parallel_agents": agents},
            "agent": {"tools": []},
            "council": {"rank": True},
            "review": {"max_verified": agents + 1},
            "cache": {"enabled": False},
        },
        "benchmark",
    )


def phase_times(llm: LLMServerProcess, client: LLMClient, agents: int) -> dict[Phase, float]:
    """Seconds from each phase's start to the next one's, for one review."""
    llm.reset(agents)
    orchestrator = Orchestrator(config(llm.base_url, agents), Workspace(ROOT), client)
    starts: dict[Phase, float] = {}

    def seen(snapshot: Snapshot) -> None:
        starts.setdefault(snapshot.phase, time.perf_counter())

    progress = Progress()
    progress.subscribe(seen)
    request = Request(Mode.REVIEW, FILE, "def _run", 1, 40)
    result = orchestrator.run(request, progress=progress)
    assert result.status.value == "done", result.failures
    assert len(result.findings) == agents + 1 and len(result.ranking) == agents
    order = sorted(starts, key=starts.__getitem__)
    return {phase: starts[after] - starts[phase] for phase, after in itertools.pairwise(order)}


def heavy_table(runs: int) -> None:
    print(
        f"Review passes, in process: answers {ANSWER_LATENCY}s, ranking calls {RANK_LATENCY}s, "
        f"synthesis {SYNTHESIS_LATENCY}s, skeptic calls {VERIFY_LATENCY}s; every agent "
        "reports a shared finding and one of its own; all merged findings verified\n"
    )
    header = ["agents", "ranking (s)", "ranking / path", "verifying (s)", "verifying / path"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    with LLMServerProcess(script, 3) as llm:
        client = LLMClient(config(llm.base_url, 3).provider, "bench-key")
        try:
            phase_times(llm, client, 3)  # warm-up: the first request imports openai
            for agents in (3, 8, 16):
                measured = [phase_times(llm, client, agents) for _ in range(runs)]
                ranking = min(m[Phase.RANKING] for m in measured)
                verifying = min(m[Phase.VERIFYING] for m in measured)
                cells = [
                    str(agents),
                    f"{ranking:.3f}",
                    f"{ranking / RANK_LATENCY:.3f}",
                    f"{verifying:.3f}",
                    f"{verifying / VERIFY_LATENCY:.3f}",
                ]
                print("| " + " | ".join(cells) + " |", flush=True)
        finally:
            client.close()

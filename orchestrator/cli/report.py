"""The result as text on stdout, warnings on stderr, and the exit code."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.markdown import Markdown

from orchestrator.cli.shell import EXIT_CODES, warn
from orchestrator.cost import cost_line
from orchestrator.progress import AgentState
from orchestrator.result import Finding, RunResult, RunStatus


def report(result: RunResult, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), flush=True)
    else:
        print_answer(result)
    label = "error" if result.status is RunStatus.FAILED else "warning"
    for failure in result.failures:
        warn(f"{label}: {failure}")
    if result.status is RunStatus.CANCELLED and not result.markdown:
        warn("cancelled before any agent finished")
    if not args.quiet:
        warn(summary(result))
    return EXIT_CODES[result.status]


def print_answer(result: RunResult) -> None:
    markdown = result.markdown
    if result.status is RunStatus.CANCELLED and markdown:
        markdown = (
            "> **Cancelled** before the synthesis: these are the answers of the agents "
            f"that had finished.\n\n{markdown}"
        )
    if markdown:
        if sys.stdout.isatty():
            Console().print(Markdown(markdown))
        else:
            print(markdown)
    if result.findings:
        print()
        for finding in result.findings:
            print(finding_line(finding))
    sys.stdout.flush()


def finding_line(finding: Finding) -> str:
    """`path:line: severity: message (2/4 agents)`, the shape editors and compilers use."""
    where = f"{finding.path or '(diff)'}:{finding.start_line}"
    return f"{where}: {finding.severity}: {finding.message} {finding.agreement}".rstrip()


def summary(result: RunResult) -> str:
    usage = result.usage
    done = sum(agent.state is AgentState.DONE for agent in result.agents)
    agents = f", {done}/{len(result.agents)} agents done" if result.agents else ""
    cost = (
        f"{result.seconds:.1f} s{agents}, {usage.total_tokens:,} tokens "
        f"({usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion) "
        f"in {len(result.calls)} calls"
    )
    if result.phases:
        cost += f" ({cost_line(result.phases)})"
    if result.cached:
        return (
            f"{result.status.value} from the result cache (--no-cache asks again); it took {cost}"
        )
    return f"{result.status.value} in {cost}"

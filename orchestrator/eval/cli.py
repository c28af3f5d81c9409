"""`deepthink eval`: the command line of the evaluation, wired into `deepthink` as a subcommand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from orchestrator.cancel import CancelToken
from orchestrator.cli.running import CtrlC
from orchestrator.cli.settings import api_key, load_cli_config
from orchestrator.cli.shell import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, PROG, UsageError, warn
from orchestrator.eval.cases import Case, SuiteError, load_suite
from orchestrator.eval.report import PlotUnavailable, as_json, plot, prices_of, problems, table
from orchestrator.eval.runner import (
    CONFIGURATIONS,
    ConfigurationError,
    Runner,
    check_configurations,
    check_resumable,
    pending_jobs,
)
from orchestrator.eval.scoring import matches, score
from orchestrator.eval.trials import ResultsFileError, Trial, read_results
from orchestrator.llm import LLMClient


def add_eval_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "eval",
        help="measure what heavy mode buys over one call: review cases with seeded defects",
        description=(
            "Review the cases of a suite (built in, or --suite DIR) under each configuration "
            "and score the findings against the seeded defects: precision, recall, F1, false "
            "positives on clean files, tokens, cost and time. Configurations: "
            + "; ".join(f"{name}: {what}" for name, what in CONFIGURATIONS.items())
            + "."
        ),
    )
    parser.add_argument(
        "--configs",
        default="single,heavy",
        metavar="NAMES",
        help="comma-separated configurations to compare (default: single,heavy)",
    )
    parser.add_argument("--agents", metavar="N", type=int, help="agents of heavy and council")
    parser.add_argument("--model", metavar="NAME", help="model to use (provider.model)")
    parser.add_argument("--config", metavar="FILE", type=Path, help="an extra YAML config layer")
    parser.add_argument(
        "--timeout", metavar="SECONDS", type=float, help="each agent's orchestrator.task_timeout"
    )
    parser.add_argument(
        "--cases",
        metavar="GLOBS",
        help="comma-separated globs of case ids to run, e.g. 'python/*,go/*' (default: all)",
    )
    parser.add_argument(
        "--repeat", metavar="K", type=int, default=1, help="run each case K times (spread)"
    )
    parser.add_argument(
        "--parallel-cases",
        metavar="N",
        type=int,
        default=2,
        help="cases reviewed at once (default 2); provider.max_concurrent_requests still holds",
    )
    parser.add_argument(
        "--suite", metavar="DIR", type=Path, help="a folder with a suite.toml (default: built in)"
    )
    parser.add_argument(
        "--results",
        metavar="FILE",
        type=Path,
        help="keep each finished trial in FILE (JSON lines) and resume from it: finished "
        "trials are not run again",
    )
    parser.add_argument(
        "--json", action="store_true", help="print scores and every trial's findings as JSON"
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", type=Path, help="draw F1 against cost (needs matplotlib)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(no_cache=True)  # eval never answers from the cache


def run_eval(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise UsageError(f"--repeat: expected 1 or more, got {args.repeat}")
    if args.parallel_cases < 1:
        raise UsageError(f"--parallel-cases: expected 1 or more, got {args.parallel_cases}")
    config = load_cli_config(Path.cwd(), args)
    try:
        suite = load_suite(args.suite).select(_names(args.cases))
        configs = check_configurations(_names(args.configs), config)
        earlier = read_results(args.results) if args.results else []
        check_resumable(earlier, configs, config)
    except (SuiteError, ConfigurationError, ResultsFileError) as error:
        raise UsageError(str(error)) from None
    if args.results is not None:
        try:  # before any trial runs: a result that cannot be kept would be lost
            args.results.open("a", encoding="utf-8").close()
        except OSError as error:
            raise UsageError(
                f"--results {args.results}: cannot write it: {error.strerror}"
            ) from None
    jobs = pending_jobs(suite, configs, args.repeat, earlier)
    if earlier and not args.quiet:
        warn(f"eval: {len(jobs)} trial(s) to run; the others are in {args.results}")
    cancel = CancelToken()
    llm = LLMClient(config.provider, api_key(config))
    try:
        with CtrlC() as interrupts, _display(args, suite.cases, len(jobs)) as display:

            def poll() -> None:
                if interrupts.pressed and not cancel.cancelled:
                    cancel.cancel()
                    display.cancelling()

            runner = Runner(config, llm, args.results)
            new = runner.run(jobs, args.parallel_cases, cancel, display.finished, poll)
    finally:
        llm.close()
    trials = _latest(earlier + new, configs, args.repeat)
    scores = sorted(
        score(trials, suite.cases, prices_of(config.provider)),
        key=lambda s: configs.index(s.config),
    )
    if args.json:
        print(json.dumps(as_json(scores, trials, suite.cases), indent=2, ensure_ascii=False))
    else:
        # A pipe or file has no width: rich would squeeze the table into 80 columns.
        Console(width=None if sys.stdout.isatty() else 200).print(table(scores))
        for line in problems(scores):
            print(line)
    sys.stdout.flush()
    if args.plot is not None and scores:
        try:
            plot(scores, args.plot)
        except PlotUnavailable as error:
            warn(f"warning: {error}")
    if cancel.cancelled:
        kept = f"; run again with --results {args.results} to finish" if args.results else ""
        warn(f"eval: cancelled after {len(new)} of {len(jobs)} trial(s){kept}")
        return EXIT_CANCELLED
    if jobs and all(trial.failed for trial in new):
        warn("eval: every trial failed (see the reasons above)")
        return EXIT_FAILED
    return EXIT_OK


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _latest(trials: list[Trial], configs: list[str], repeats: int) -> list[Trial]:
    """The newest trial of each (configuration, case, repeat) this run asks for."""
    latest = {t.key: t for t in trials if t.config in configs and t.repeat <= repeats}
    return list(latest.values())


class _Display:
    """Progress of the trials: nothing (--quiet), a bar on a terminal, else a line each."""

    def __init__(self, cases: tuple[Case, ...], total: int, bar: Progress | None, lines: bool):
        self._cases = {case.id: case for case in cases}
        self._bar = bar
        self._lines = lines
        self._task = bar.add_task("reviewing", total=total) if bar is not None else None

    def finished(self, trial: Trial) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task)
        if self._lines:
            print(f"{PROG}: eval: {_outcome(trial, self._cases[trial.case])}", file=sys.stderr)

    def cancelling(self) -> None:
        line = "eval: cancelling; finished trials are kept (press Ctrl-C again to quit at once)"
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description="cancelling")
        warn(line)

    def __enter__(self) -> _Display:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()


def _display(args: argparse.Namespace, cases: tuple[Case, ...], total: int) -> _Display:
    if args.quiet:
        return _Display(cases, total, None, lines=False)
    if sys.stderr.isatty():
        bar = Progress(
            TextColumn(f"{PROG} eval [progress.description]{{task.description}}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        return _Display(cases, total, bar, lines=False)
    return _Display(cases, total, None, lines=True)


def _outcome(trial: Trial, case: Case) -> str:
    what = f"{trial.config} {trial.case} #{trial.repeat}: "
    if trial.failed:
        return what + "failed: " + ("; ".join(trial.failures) or "no answer")
    count = f"{len(trial.findings)} finding(s), {trial.seconds:.1f} s"
    if case.clean:
        return what + f"clean file, {count}"
    found = any(matches(finding, case) for finding in trial.findings)
    return what + f"{'found' if found else 'missed'} the defect, {count}"

"""Run the cases of a suite under each configuration, concurrently, keeping every finished trial.

Each trial reviews one case file alone in a fresh temporary workspace: the agents' tools
see that file and nothing else (not the manifest, which holds the answers). The result
cache is off, so that every repeat asks the model again.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from orchestrator.cancel import CancelToken
from orchestrator.config import CacheConfig, Config, CouncilConfig
from orchestrator.context import selection_request
from orchestrator.engine import Orchestrator
from orchestrator.eval.cases import Case, Suite
from orchestrator.eval.trials import ModelUsage, Trial, append_result
from orchestrator.llm import LLMClient
from orchestrator.request import Mode
from orchestrator.result import RunResult, RunStatus
from orchestrator.workspace import Workspace

CONFIGURATIONS = {
    "single": "one call with the same context, no plan and no agents",
    "heavy": "the engine's agents (orchestrator.parallel_agents, or --agents) on provider.model",
    "council": "the engine's agents with council.models handed out round-robin",
}
_POLL_SECONDS = 0.1


class ConfigurationError(Exception):
    """A configuration named on the command line cannot run; the message says what to do."""


def check_configurations(names: Sequence[str], config: Config) -> list[str]:
    chosen = []
    for name in names:
        if name not in CONFIGURATIONS:
            known = ", ".join(CONFIGURATIONS)
            raise ConfigurationError(
                f"--configs: unknown configuration {name!r} (available here: {known})"
            )
        if name == "council" and not config.council.models:
            raise ConfigurationError(
                "--configs: council needs council.models in your config (a list of models)"
            )
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ConfigurationError("--configs: name at least one configuration")
    return chosen


@dataclass(frozen=True)
class Job:
    config: str
    case: Case
    repeat: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.config, self.case.id, self.repeat)


def pending_jobs(
    suite: Suite, configs: Sequence[str], repeats: int, finished: Iterable[Trial]
) -> list[Job]:
    """Every trial still to run: those without a finished trial in the results file.

    A failed trial is tried again, since its failure (a wrong key, an endpoint down)
    may be gone; one that finished with a result is kept.
    """
    done = {trial.key for trial in finished if not trial.failed}
    return [
        job
        for repeat in range(1, repeats + 1)
        for case in suite.cases
        for config in configs
        if (job := Job(config, case, repeat)).key not in done
    ]


class Runner:
    """Runs jobs against one endpoint; `parallel_cases` trials at a time."""

    def __init__(self, config: Config, llm: LLMClient, results: Path | None) -> None:
        # The engine's cache would answer every repeat with the first one's result.
        self._config = config.model_copy(update={"cache": CacheConfig(enabled=False)})
        self._llm = llm
        self._results = results

    def run(
        self,
        jobs: Sequence[Job],
        parallel_cases: int,
        cancel: CancelToken,
        on_trial: Callable[[Trial], None],
        poll: Callable[[], None] = lambda: None,
    ) -> list[Trial]:
        """The trials that finished, each written to the results file as it finishes.

        `poll` is called on this thread every tenth of a second while trials run (the CLI
        looks at Ctrl-C there); after `cancel`, running trials stop and the rest never start.
        """
        finished: list[Trial] = []
        with ThreadPoolExecutor(parallel_cases, thread_name_prefix="deepthink-eval") as pool:
            running: set[Future[Trial | None]] = {
                pool.submit(self._trial, job, cancel) for job in jobs
            }
            while running:
                done, running = wait(running, _POLL_SECONDS, FIRST_COMPLETED)
                for future in done:
                    if (trial := future.result()) is not None:
                        if self._results is not None:
                            append_result(self._results, trial)
                        finished.append(trial)
                        on_trial(trial)
                poll()
        return finished

    def _trial(self, job: Job, cancel: CancelToken) -> Trial | None:
        """One review; None when cancelled, as a cut-short trial measures nothing."""
        if cancel.cancelled:
            return None
        started = time.monotonic()
        token = cancel.child()
        with tempfile.TemporaryDirectory(prefix="deepthink-eval-") as directory:
            root = Path(directory)
            file = root / job.case.id
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(job.case.text, encoding="utf-8")
            try:
                result = self._review(job, root, token)
            except Exception as error:  # a bug or a full disk: one failed trial, not a lost run
                result = RunResult(
                    RunStatus.FAILED, "", failures=[f"{type(error).__name__}: {error}"]
                )
        if result.status is RunStatus.CANCELLED:
            return None
        usage: dict[str, ModelUsage] = {}
        for call in result.calls:
            before = usage.get(call.model, ModelUsage(call.model, 0, 0))
            usage[call.model] = ModelUsage(
                call.model,
                before.prompt_tokens + call.usage.prompt_tokens,
                before.completion_tokens + call.usage.completion_tokens,
            )
        return Trial(
            config=job.config,
            case=job.case.id,
            repeat=job.repeat,
            status=result.status.value,
            findings=tuple(result.findings),
            usage=tuple(usage.values()),
            seconds=time.monotonic() - started,
            failures=tuple(result.failures),
            model=self._config.provider.model,
            agents=0 if job.config == "single" else self._config.orchestrator.parallel_agents,
        )

    def _review(self, job: Job, root: Path, cancel: CancelToken) -> RunResult:
        lines = len(job.case.text.splitlines())
        request = selection_request(
            Mode.REVIEW, job.case.id, job.case.text, 1, lines, self._config.context.max_tokens
        )
        config = self._config
        if job.config == "single":
            strategy = config.orchestrator.model_copy(update={"strategy": "single"})
            config = config.model_copy(update={"orchestrator": strategy})
        if job.config == "heavy":  # one model, even where the user's config sets a council
            config = config.model_copy(update={"council": CouncilConfig()})
        return Orchestrator(config, Workspace(root), self._llm).run(request, cancel=cancel)


def check_resumable(trials: Iterable[Trial], configs: Sequence[str], config: Config) -> None:
    """Refuse to mix in trials of the same configuration run with another model or agents."""
    for trial in trials:
        if trial.config not in configs:
            continue
        agents = 0 if trial.config == "single" else config.orchestrator.parallel_agents
        if (trial.model, trial.agents) != (config.provider.model, agents):
            raise ConfigurationError(
                f"--results: its {trial.config} trials ran with model {trial.model!r} and "
                f"{trial.agents} agents, this run uses {config.provider.model!r} and {agents}; "
                "give another --results file to compare them"
            )

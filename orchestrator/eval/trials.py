"""One review of one case under one configuration, as run and as kept in the results file.

The results file holds one JSON object per line, one per finished trial, appended as each
finishes: a run stopped at any moment keeps what finished, and a later run resumes from it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.result import Finding, Severity


class ResultsFileError(Exception):
    """The results file cannot be read or does not belong to this run; the message says why."""


@dataclass(frozen=True)
class ModelUsage:
    model: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Trial:
    config: str  # single, heavy, council
    case: str  # the case id: its path in the suite
    repeat: int  # 1-based
    status: str  # the run's status: done, partial or failed
    findings: tuple[Finding, ...]
    usage: tuple[ModelUsage, ...]  # per model, so that money can be priced later
    seconds: float
    failures: tuple[str, ...] = ()
    model: str = ""  # provider.model, and agents, of the run: a resume must not mix others in
    agents: int = 0

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.config, self.case, self.repeat)

    @property
    def tokens(self) -> int:
        return sum(u.prompt_tokens + u.completion_tokens for u in self.usage)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        findings = tuple(
            Finding(
                str(f["path"]),
                int(f["start_line"]),
                int(f["end_line"]),
                Severity(f["severity"]),
                str(f["message"]),
            )
            for f in data["findings"]
        )
        usage = tuple(
            ModelUsage(str(u["model"]), int(u["prompt_tokens"]), int(u["completion_tokens"]))
            for u in data["usage"]
        )
        return cls(
            config=str(data["config"]),
            case=str(data["case"]),
            repeat=int(data["repeat"]),
            status=str(data["status"]),
            findings=findings,
            usage=usage,
            seconds=float(data["seconds"]),
            failures=tuple(str(f) for f in data.get("failures", ())),
            model=str(data.get("model", "")),
            agents=int(data.get("agents", 0)),
        )


def read_results(path: Path) -> list[Trial]:
    """The trials a results file holds; none when it does not exist yet.

    A last line cut short (the process was killed while writing it) is ignored: its trial
    simply runs again.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ResultsFileError(f"{path}: cannot read it: {error.strerror}") from None
    trials = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            trials.append(Trial.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as error:
            if number == len(lines):
                break
            raise ResultsFileError(
                f"{path}: line {number} is not a trial of deepthink eval ({error}); "
                "give another --results file"
            ) from None
    return trials


def append_result(path: Path, trial: Trial) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(trial.to_dict(), ensure_ascii=False) + "\n")

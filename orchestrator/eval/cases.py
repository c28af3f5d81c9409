"""Review cases: source files with one seeded defect each, or none, read from a suite manifest.

A suite is a directory holding `suite.toml` and the source files it names; the format is
described at the top of the built-in suite's manifest (orchestrator/eval/suite/suite.toml).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Any

MANIFEST = "suite.toml"
MAX_CASE_BYTES = 256 * 1024  # a case is a small file; a huge one is a mistake in the suite
_LINES = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")
_CASE_KEYS = {"file", "lines", "code", "kind", "description"}


class SuiteError(Exception):
    """A suite cannot be used; the message names the manifest, the case and the key."""


@dataclass(frozen=True)
class Defect:
    start_line: int
    end_line: int
    kind: str
    description: str


@dataclass(frozen=True)
class Case:
    """One file to review; `defect` None means a clean file."""

    id: str  # the file's path relative to the suite, with forward slashes
    text: str
    defect: Defect | None

    @property
    def clean(self) -> bool:
        return self.defect is None


@dataclass(frozen=True)
class Suite:
    root: Path
    cases: tuple[Case, ...]

    def select(self, patterns: list[str]) -> Suite:
        """The cases whose id matches one of the glob patterns, in suite order."""
        if not patterns:
            return self
        unmatched = [p for p in patterns if not any(fnmatchcase(c.id, p) for c in self.cases)]
        if unmatched:
            raise SuiteError(
                f"--cases: no case matches {', '.join(unmatched)} "
                f"(case ids are paths in the suite, such as {self.cases[0].id})"
            )
        chosen = tuple(c for c in self.cases if any(fnmatchcase(c.id, p) for p in patterns))
        return Suite(self.root, chosen)


def builtin_suite_path() -> Path:
    return Path(str(resources.files("orchestrator.eval") / "suite"))


def load_suite(directory: Path | None = None) -> Suite:
    """Read and check a suite: the built-in one when `directory` is None."""
    root = directory if directory is not None else builtin_suite_path()
    manifest = root / MANIFEST
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"{root}: no {MANIFEST} (a suite is a folder with a {MANIFEST})") from None
    except OSError as error:
        raise SuiteError(f"{manifest}: cannot read it: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SuiteError(f"{manifest}: not valid TOML: {error}") from None
    entries = data.get("case")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{manifest}: expected one or more [[case]] tables")
    cases = [_case(root, manifest, index, entry) for index, entry in enumerate(entries, 1)]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise SuiteError(f"{manifest}: {case.id}: listed twice")
        seen.add(case.id)
    return Suite(root, tuple(cases))


def _case(root: Path, manifest: Path, index: int, entry: Any) -> Case:
    where = f"{manifest}: case {index}"
    if not isinstance(entry, dict):
        raise SuiteError(f"{where}: expected a table")
    if unknown := sorted(set(entry) - _CASE_KEYS):
        raise SuiteError(
            f"{where}: unknown key {unknown[0]} (known keys: {', '.join(sorted(_CASE_KEYS))})"
        )
    name = entry.get("file")
    if not isinstance(name, str) or not name.strip():
        raise SuiteError(f"{where}: file: expected the path of a source file in the suite")
    where = f"{manifest}: {name}"
    text = _read_case(root, name, where)
    if "lines" not in entry:
        if extra := sorted(set(entry) - {"file"}):
            raise SuiteError(f"{where}: {extra[0]}: only a case with `lines` has a defect")
        return Case(name, text, None)
    start, end = _line_range(entry["lines"], where)
    lines = text.splitlines()
    if end > len(lines):
        raise SuiteError(f"{where}: lines: {start}-{end} runs past the end ({len(lines)} lines)")
    strings = {key: entry.get(key) for key in ("code", "kind", "description")}
    for key, value in strings.items():
        if not isinstance(value, str) or not value.strip():
            raise SuiteError(f"{where}: {key}: expected a non-empty string")
    code = str(strings["code"])
    if code not in "\n".join(lines[start - 1 : end]):
        raise SuiteError(f"{where}: code: {code!r} is not on lines {start}-{end}")
    return Case(name, text, Defect(start, end, str(strings["kind"]), str(strings["description"])))


def _read_case(root: Path, name: str, where: str) -> str:
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise SuiteError(f"{where}: file: outside the suite folder")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError(f"{where}: file: no such file") from None
    except OSError as error:
        raise SuiteError(f"{where}: file: cannot read it: {error.strerror}") from None
    if len(data) > MAX_CASE_BYTES:
        raise SuiteError(f"{where}: file: larger than {MAX_CASE_BYTES // 1024} KiB")
    if not data.strip():
        raise SuiteError(f"{where}: file: empty")
    return data.decode("utf-8", errors="replace")


def _line_range(value: Any, where: str) -> tuple[int, int]:
    match = _LINES.fullmatch(str(value)) if isinstance(value, str | int) else None
    if match is None:
        raise SuiteError(f'{where}: lines: expected "N" or "N-M", got {value!r}')
    start = int(match[1])
    end = int(match[2] or match[1])
    if start < 1 or end < start:
        raise SuiteError(f"{where}: lines: expected 1 <= N <= M, got {value!r}")
    return start, end

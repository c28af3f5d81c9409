"""Count error lines in rotated log files, for the nightly health report."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

LEVELS = ("ERROR", "CRITICAL")


def open_log(path: Path):  # type: ignore[no-untyped-def]
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def first_error(path: Path) -> str | None:
    """The first error line of one log file, if any."""
    handle = open_log(path)
    for line in handle:
        if any(level in line for level in LEVELS):
            return line.rstrip("\n")
    handle.close()
    return None


def count_errors(directory: Path, pattern: str = "*.log*") -> Counter[str]:
    """Error lines per file, for every log file in `directory`."""
    counts: Counter[str] = Counter()
    for path in sorted(directory.glob(pattern)):
        with open_log(path) as handle:
            counts[path.name] = sum(
                1 for line in handle if any(level in line for level in LEVELS)
            )
    return counts


def report(directory: Path) -> str:
    counts = count_errors(directory)
    lines = [f"{name}: {count} error line(s)" for name, count in counts.most_common()]
    firsts = [
        f"  first in {path.name}: {line}"
        for path in sorted(directory.glob("*.log*"))
        if (line := first_error(path)) is not None
    ]
    return "\n".join(lines + firsts) or "no errors"

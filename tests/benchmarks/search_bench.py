"""The `search` tool on a large generated tree: `python -m tests.benchmarks.search_bench`.

Not part of the tests. It writes `--files` small source files (default 100,000, in
directories of 1,000) into a temporary directory, then times the tool as an agent calls it:
a pattern found nowhere (the whole tree is read), and a common word (the tool stops at its
default 50 matches). Each figure is the best of `--runs`, after one untimed warm-up run
that brings the tree into the page cache.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from orchestrator.tools.search import Search
from orchestrator.workspace import Workspace

_SOURCE = """import os


def handler_{n}(request):
    # TODO: validate the request before use
    value = request.get("value_{n}")
    if value is None:
        return os.environ.get("DEFAULT_{n}", "")
    return str(value).strip()
"""

PATTERNS = {
    "no match (every file read)": r"no_such_identifier_\d+",
    "common word (first 50 matches)": r"\bTODO\b",
}


def generate(root: Path, files: int) -> None:
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    for n in range(files):
        directory = root / f"pkg{n // 1000:03}"
        if n % 1000 == 0:
            directory.mkdir()
        (directory / f"module_{n}.py").write_text(_SOURCE.format(n=n))


def best_of(runs: int, workspace: Workspace, pattern: str) -> tuple[float, str]:
    """The fastest of `runs` calls, and the output's last line (it names any cut)."""
    output = Search().execute(workspace, {"pattern": pattern})  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        output = Search().execute(workspace, {"pattern": pattern})
        times.append(time.perf_counter() - started)
    return min(times), output.splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000, help="files to generate")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per pattern")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="deepthink-search-") as directory:
        root = Path(directory)
        generate(root, args.files)
        workspace = Workspace(root)
        print(f"| pattern ({args.files:,} files) | best of {args.runs} (s) | last line |")
        print("|---|---:|---|")
        for label, pattern in PATTERNS.items():
            seconds, last = best_of(args.runs, workspace, pattern)
            print(f"| {label} | {seconds:.3f} | {last[:70]} |")


if __name__ == "__main__":
    main()

"""Check that installed command-line tools are recent enough for the build."""

from __future__ import annotations

import re
import shutil
import subprocess

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")

REQUIRED = {
    "git": (2, 30, 0),
    "node": (18, 0, 0),
    "cmake": (3, 20, 0),
}


def installed_version(tool: str) -> tuple[int, int, int] | None:
    """The version a tool reports with --version, or None when it is not installed."""
    path = shutil.which(tool)
    if path is None:
        return None
    output = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    match = _VERSION.search(output)
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def format_version(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


def check_tools(required: dict[str, tuple[int, int, int]] = REQUIRED) -> list[str]:
    """One problem per tool that is missing or too old; empty when all is well."""
    problems = []
    for tool, minimum in sorted(required.items()):
        found = installed_version(tool)
        if found is None:
            problems.append(f"{tool}: not installed (need {format_version(minimum)} or later)")
        elif found < minimum:
            problems.append(
                f"{tool}: version {format_version(found)} is too old "
                f"(need {format_version(minimum)} or later)"
            )
    return problems


if __name__ == "__main__":
    for problem in check_tools():
        print(problem)

"""The files of a diff the model may see: the agents' read policy, applied to diff sections.

A diff carries file contents too. The changes of a file agents may not read (a tracked
.env, a key, a gitignored or denied file) are left out of every diff sent to the model: the
agents' `git_diff` and the review diff the user asks for alike, and the user is told which.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# The lines of a file's section of a diff that name it, before and after.
# (git ends a name holding a space with a tab there.)
_DIFF_PATH = re.compile(
    r"^(?:--- a/|\+\+\+ b/|rename from |rename to |copy from |copy to )(.+?)\t?$"
)
_UNNAMED = "a file the diff does not name (it could hold secrets)"

Refusal = Callable[[str], str | None]
"""Why agents may not read a file (a path relative to the workspace root), or None."""


@dataclass(frozen=True)
class ShownDiff:
    """A diff without the sections of refused files, and why each was left out."""

    text: str
    left_out: tuple[str, ...]  # the refusals, each naming its file

    @property
    def note(self) -> str:
        """For the user and the model: which files were left out and why; '' for none."""
        return f"left out of the diff: {'; '.join(self.left_out)}" if self.left_out else ""


def shown_diff(diff: str, refusal: Refusal) -> ShownDiff:
    """The diff without the sections of files `refusal` refuses (git's `diff --git` format,
    or a single-file unified diff with `---`/`+++` lines)."""
    kept: list[str] = []
    left_out: list[str] = []
    for section in re.split(r"(?m)^(?=diff --git )", diff):
        refused = _refused(section, refusal)
        if refused is None:
            kept.append(section)
        else:
            left_out.append(refused)
    return ShownDiff("".join(kept), tuple(left_out))


def _refused(section: str, refusal: Refusal) -> str | None:
    """Why the section may not be shown, or None."""
    paths = _paths(section)
    if paths is None:
        return None  # text before the first file, or none at all
    if not paths:
        return _UNNAMED
    return next((why for path in paths if (why := refusal(path)) is not None), None)


def _paths(section: str) -> list[str] | None:
    """The paths a file's section names; None for text that is no file's section."""
    if section.startswith("diff --git "):
        header, _, body = section.partition("\n")
        named = header.removeprefix("diff --git a/")
        # `a/P b/P` for a file that keeps its name; other lines name it otherwise.
        half = (len(named) - 3) // 2
        paths = [named[:half]] if named[half:] == f" b/{named[:half]}" else []
    elif section.startswith("--- "):
        paths, body = [], section  # one file's unified diff, as difflib writes it
    else:
        return None
    preamble = body.split("\n@@", 1)[0]  # the lines before the first hunk: never the code
    paths += [m[1] for line in preamble.splitlines() if (m := _DIFF_PATH.match(line))]
    return [path for path in paths if path != "/dev/null"]

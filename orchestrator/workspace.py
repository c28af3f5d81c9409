"""The sandbox every tool reads through: paths confined to one root, bounded reads."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pathspec

BINARY_SNIFF_BYTES = 8192
DEFAULT_MAX_FILES = 10_000
# Lines are read in pieces of at most this size, so one enormous line (minified code)
# never has to fit in memory before the byte cap applies.
_LINE_PIECE_BYTES = 64 * 1024
# Reaching a late start_line means reading every byte before it; past this the
# request is refused rather than tying up the agent on a multi-gigabyte file.
_MAX_SKIP_BYTES = 64 * 1024 * 1024


# Files that commonly hold credentials. Agents send what they read to the LLM endpoint, so
# these are not read unless the user's own config allows them (agent.allow_paths).
SECRET_PATTERNS = (
    ".env*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.tfvars",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".ssh/",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    ".dockercfg",
    ".docker/config.json",
    ".aws/credentials",
    "credentials",
    "credentials.json",
    "*.credentials",
    "secrets.yml",
    "secrets.yaml",
    "secrets.json",
)


class ToolError(Exception):
    """A tool refused or failed; the message is shown to the model as the tool result."""


class SandboxError(ToolError):
    """A path was refused because it leaves the workspace root or names git internals."""


@dataclass(frozen=True)
class ReadPolicy:
    """Which files agents may read, in gitignore pattern syntax.

    `deny` always refuses; otherwise `allow` permits; otherwise the secrets list and the
    .gitignore files refuse. Only the user's own config may widen it (see config.py).
    """

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def specs(self) -> tuple[pathspec.GitIgnoreSpec, ...]:
        return tuple(
            pathspec.GitIgnoreSpec.from_lines(patterns)
            for patterns in (self.deny, self.allow, SECRET_PATTERNS)
        )


@dataclass(frozen=True)
class Excerpt:
    """Text read from a file: where it starts and, when the byte cap cut it, a notice."""

    text: str
    first_line: int
    truncation_notice: str | None


@dataclass(frozen=True)
class _GitIgnore:
    """The rules of one .gitignore file, which apply to paths below `base`."""

    base: str
    spec: pathspec.GitIgnoreSpec

    def verdict(self, relative_path: str, is_dir: bool) -> bool | None:
        """True if ignored, False if re-included by a `!` rule, None if no rule matches."""
        below = relative_path[len(self.base) + 1 :] if self.base else relative_path
        return self.spec.check_file(below + "/" if is_dir else below).include


def _is_ignored(rules: tuple[_GitIgnore, ...], relative_path: str, is_dir: bool) -> bool:
    # As in git, the deepest .gitignore with a matching rule decides.
    for rule in reversed(rules):
        verdict = rule.verdict(relative_path, is_dir)
        if verdict is not None:
            return verdict
    return False


def _is_saved(file: Path, text: str) -> bool:
    """Whether `text` is the file's saved content (no file: it is not)."""
    data = text.encode("utf-8", errors="replace")
    try:
        status = file.stat()
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data):
            return False  # (a FIFO would block the read)
        return file.read_bytes() == data
    except OSError:
        return False


def _is_git_dir_name(name: str) -> bool:
    # casefold: on case-insensitive filesystems ".GIT/config" is the same file.
    return name.casefold() == ".git"


class Workspace:
    """A directory tree that tools may read, and nothing outside it.

    Every path goes through `resolve`, which follows symlinks before checking
    containment, so a link cannot lead a tool out of the root or into `.git`.
    Reads are capped at `max_read_bytes` so a huge file cannot flood the model.

    `buffers` are files as an editor has them open (path, absolute or relative to the root,
    to text): agents read the code the user sees, unsaved edits included. Those whose text
    is the saved file's are left out, so `unsaved` holds exactly the unsaved ones.
    """

    def __init__(
        self,
        root: Path | str,
        max_read_bytes: int = 256_000,
        policy: ReadPolicy = ReadPolicy(),
        buffers: Mapping[str, str] | None = None,
    ) -> None:
        resolved = Path(root).resolve()
        if not resolved.is_dir():
            raise ValueError(f"workspace root {root} is not a directory")
        if max_read_bytes < 1:
            raise ValueError("max_read_bytes must be positive")
        self.root = resolved
        self.max_read_bytes = max_read_bytes
        self.policy = policy
        self._deny, self._allow, self._secrets = policy.specs()
        # A workspace serves one job, whose agents read many files under the same few
        # .gitignore files: each is read once. (Racing threads may both read one; same result.)
        self._gitignores: dict[Path, list[_GitIgnore]] = {}
        # Relative path -> the editor's text, for the files whose text is not the saved one.
        self.unsaved: dict[str, str] = {}
        for path, text in (buffers or {}).items():
            try:
                real = self.resolve(path)
            except SandboxError:
                continue  # open in the editor, but not a file agents could read anyway
            if not _is_saved(real, text):
                self.unsaved[self.relative(real)] = text

    def with_policy(self, policy: ReadPolicy) -> Workspace:
        """The same files under another read policy: the unsaved texts already told apart
        from the saved ones, and the .gitignore rules already read, carry over."""
        other = Workspace(self.root, self.max_read_bytes, policy)
        other.unsaved = self.unsaved
        other._gitignores = self._gitignores
        return other

    def has_file(self, path: str) -> bool:
        """Whether the file exists, on disk or only in the editor (a new file, unsaved)."""
        real = self.resolve(path)
        return self.relative(real) in self.unsaved or real.exists()

    def refusal(self, relative_path: str) -> str | None:
        """Why agents may not read this file (a path relative to the root), or None."""
        if self._deny.match_file(relative_path):
            return f"{relative_path} matches agent.deny_paths; agents may not read it"
        if self._allow.match_file(relative_path):
            return None
        hint = (
            "; if it is safe to send to the model, add it to agent.allow_paths in your own config"
        )
        if self._secrets.match_file(relative_path):
            return f"{relative_path} may hold secrets (like .env, *.pem, id_rsa){hint}"
        if self._ignored(relative_path):
            return f"{relative_path} is ignored by .gitignore{hint}"
        return None

    def resolve(self, path: str) -> Path:
        """The real path of `path` (relative to the root, or absolute inside it).

        The path need not exist. Raises SandboxError if it contains a NUL byte,
        leads outside the root (by `..`, an absolute path or a symlink) or into `.git`.
        """
        if "\0" in path:
            raise SandboxError("path contains a NUL byte")
        try:
            real = Path(os.path.realpath(self.root / path))
        except (OSError, ValueError) as error:  # ValueError covers unencodable characters
            raise SandboxError(f"invalid path {path!r}: {error}") from error
        if not real.is_relative_to(self.root):
            raise SandboxError(
                f"{path!r} is outside the workspace; use a path relative to the workspace root"
            )
        if any(_is_git_dir_name(part) for part in real.relative_to(self.root).parts):
            raise SandboxError(f"{path!r} is inside .git, which tools may not read")
        return real

    def relative(self, path: Path | str) -> str:
        """`path` (absolute, inside the root) as a posix path relative to the root."""
        return Path(path).relative_to(self.root).as_posix()

    def read_excerpt(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> Excerpt:
        """The file's text (lines `start_line`..`end_line`, 1-based inclusive).

        At most `max_read_bytes` are read; a cut comes with a notice saying where to continue.
        """
        start = 1 if start_line is None else start_line
        if start < 1:
            raise ToolError("start_line must be 1 or more")
        if end_line is not None and end_line < start:
            raise ToolError(f"end_line ({end_line}) is before start_line ({start})")
        file = self.resolve(path)
        relative = self.relative(file)
        buffer = self.unsaved.get(relative)
        if buffer is None:
            self._check_regular_file(file, path)
        # The same refusals for the editor's text as for the saved file's.
        if (refused := self.refusal(relative)) is not None:
            raise ToolError(f"refused: {refused}")
        if buffer is not None:
            data = io.BytesIO(buffer.encode("utf-8", errors="replace"))
            return self._text_excerpt(data, relative, start, end_line)
        try:
            with file.open("rb") as stream:
                return self._text_excerpt(stream, relative, start, end_line)
        except OSError as error:
            raise ToolError(f"cannot read {path}: {error.strerror}") from error

    def iter_files(self, subdir: str = ".", max_files: int = DEFAULT_MAX_FILES) -> Iterator[Path]:
        """Paths of the files under `subdir`, in sorted order, at most `max_files`.

        Skips `.git`, whatever the .gitignore files (root and nested) exclude, special
        files, and symlinks leading outside the root. Symlinked directories are not
        followed, as in git: they could loop, and targets inside the root are walked anyway.
        A `subdir` naming a file yields just that file.
        """
        start = self.resolve(subdir)
        if start.is_file():
            yield start
            return
        if not start.is_dir():
            raise ToolError(f"no such directory: {subdir}")
        pending = [iter(self._children(start, self._rules_above(start)))]
        count = 0
        while pending and count < max_files:
            entry = next(pending[-1], None)
            if entry is None:
                pending.pop()
                continue
            path, is_dir, rules = entry
            if is_dir:
                pending.append(iter(self._children(path, rules)))
            else:
                count += 1
                yield path

    def _check_regular_file(self, file: Path, path: str) -> None:
        try:
            mode = file.stat().st_mode
        except FileNotFoundError as error:
            raise ToolError(f"no such file: {path}") from error
        except OSError as error:
            raise ToolError(f"cannot read {path}: {error.strerror}") from error
        if stat.S_ISDIR(mode):
            raise ToolError(f"{path} is a directory, not a file")
        if not stat.S_ISREG(mode):
            # Devices and FIFOs could block forever or never end.
            raise ToolError(f"{path} is not a regular file")

    def _text_excerpt(
        self, stream: BinaryIO, display_path: str, start: int, end: int | None
    ) -> Excerpt:
        if b"\0" in stream.read(BINARY_SNIFF_BYTES):
            raise ToolError(
                f"{display_path} is a binary file (it contains NUL bytes); "
                "only text files can be read"
            )
        stream.seek(0)
        return self._excerpt(stream, display_path, start, end)

    def _excerpt(self, stream: BinaryIO, display_path: str, start: int, end: int | None) -> Excerpt:
        kept = bytearray()
        line = 1
        skipped = 0
        while piece := stream.readline(_LINE_PIECE_BYTES):
            if line >= start:
                room = self.max_read_bytes - len(kept)
                if len(piece) > room:
                    kept += piece[:room]
                    notice = (
                        f"[truncated at the {self.max_read_bytes}-byte read limit; "
                        f"continue with start_line={line}]"
                    )
                    return Excerpt(kept.decode("utf-8", errors="replace"), start, notice)
                kept += piece
            else:
                skipped += len(piece)
                if skipped > _MAX_SKIP_BYTES:
                    raise ToolError(
                        f"line {start} of {display_path} lies more than {_MAX_SKIP_BYTES} bytes "
                        "into the file, too far to read"
                    )
            if piece.endswith(b"\n"):
                line += 1
                if end is not None and line > end:
                    break
        if not kept and start > 1:
            raise ToolError(f"start_line {start} is past the end of {display_path}")
        return Excerpt(kept.decode("utf-8", errors="replace"), start, None)

    def _ignored(self, relative_path: str) -> bool:
        """Whether .gitignore rules exclude the file, or a directory holding it, as git does."""
        *directories, _ = relative_path.split("/")
        rules = tuple(self._load_gitignore(self.root))
        folder = self.root
        for depth, name in enumerate(directories, start=1):
            if _is_ignored(rules, "/".join(directories[:depth]), is_dir=True):
                return True
            folder = folder / name
            rules += tuple(self._load_gitignore(folder))
        return _is_ignored(rules, relative_path, is_dir=False)

    def _rules_above(self, directory: Path) -> tuple[_GitIgnore, ...]:
        """The .gitignore rules of the root and every directory between it and `directory`."""
        rules: list[_GitIgnore] = []
        ancestor = self.root
        for part in directory.relative_to(self.root).parts:
            rules.extend(self._load_gitignore(ancestor))
            ancestor = ancestor / part
        return tuple(rules)

    def _load_gitignore(self, directory: Path) -> list[_GitIgnore]:
        rules = self._gitignores.get(directory)
        if rules is None:
            rules = self._gitignores[directory] = self._read_gitignore(directory)
        return rules

    def _read_gitignore(self, directory: Path) -> list[_GitIgnore]:
        file = directory / ".gitignore"
        try:
            # A symlinked .gitignore could point outside the root; git would not follow it either.
            if not stat.S_ISREG(file.lstat().st_mode):
                return []
            with file.open("rb") as stream:
                text = stream.read(self.max_read_bytes).decode("utf-8", errors="replace")
        except OSError:
            return []
        base = "" if directory == self.root else self.relative(directory)
        return [_GitIgnore(base, pathspec.GitIgnoreSpec.from_lines(text.splitlines()))]

    def _children(
        self, directory: Path, inherited: tuple[_GitIgnore, ...]
    ) -> list[tuple[Path, bool, tuple[_GitIgnore, ...]]]:
        """The visible entries of `directory`, sorted by name, with the rules below them."""
        rules = inherited + tuple(self._load_gitignore(directory))
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            return []  # unreadable directories are skipped like ignored ones
        children: list[tuple[Path, bool, tuple[_GitIgnore, ...]]] = []
        for entry in entries:
            if _is_git_dir_name(entry.name):
                continue
            if entry.is_symlink():
                if entry.is_dir():
                    continue
                try:
                    self.resolve(entry.path)
                except SandboxError:
                    continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if not is_dir and not entry.is_file():
                continue
            path = Path(entry.path)
            if _is_ignored(rules, self.relative(path), is_dir):
                continue
            children.append((path, is_dir, rules))
        return children

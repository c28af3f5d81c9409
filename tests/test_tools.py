"""The workspace sandbox, the built-in tools and tool discovery, on real files and real git."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.cancel import CancelToken
from orchestrator.process import bounded
from orchestrator.tools import ENTRY_POINT_GROUP, build_tools, discover_tools
from orchestrator.tools.base import Tool, ToolError
from orchestrator.tools.git import GitDiff, GitLog
from orchestrator.tools.list_files import ListFiles
from orchestrator.tools.read_file import ReadFile
from orchestrator.tools.search import Search
from orchestrator.workspace import ReadPolicy, SandboxError, Workspace
from tests.gitrepo import git


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def call(tool: type[Tool], workspace: Workspace, **arguments: Any) -> str:
    return tool().execute(workspace, arguments)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A workspace with a secret next to it (outside) and a fake .git inside."""
    write(tmp_path / "outside" / "secret.txt", "TOP SECRET\n")
    workspace = tmp_path / "ws"
    write(workspace / "src" / "app.py", "import os\n\ndef main():\n    return os.getcwd()\n")
    write(workspace / "README.md", "# Demo\nmain entry point\n")
    write(workspace / ".git" / "config", "[core]\n\tbare = false\n")
    return workspace


@pytest.fixture
def workspace(root: Path) -> Workspace:
    return Workspace(root)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with two commits and an uncommitted change."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.com")
    write(path / "calc.py", "def add(a, b):\n    return a + b\n")
    write(path / "notes.txt", "first\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "Add calculator")
    write(
        path / "calc.py", "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
    )
    git(path, "commit", "-q", "-am", "Add subtraction")
    write(path / "notes.txt", "first\nsecond\n")
    return path


# --- read_file ---------------------------------------------------------------------------


def test_read_file_numbers_lines(workspace: Workspace) -> None:
    output = call(ReadFile, workspace, path="src/app.py")
    assert output.splitlines() == [
        "   1| import os",
        "   2| ",
        "   3| def main():",
        "   4|     return os.getcwd()",
    ]


def test_read_file_line_range(workspace: Workspace) -> None:
    output = call(ReadFile, workspace, path="src/app.py", start_line=3, end_line="4")
    assert output.splitlines() == ["   3| def main():", "   4|     return os.getcwd()"]


def test_read_file_accepts_absolute_path_inside_root(workspace: Workspace, root: Path) -> None:
    assert "# Demo" in call(ReadFile, workspace, path=str(root / "README.md"))


def test_read_file_strips_carriage_returns(workspace: Workspace, root: Path) -> None:
    (root / "dos.txt").write_bytes(b"one\r\ntwo\r\n")
    assert call(ReadFile, workspace, path="dos.txt") == "   1| one\n   2| two"


def test_read_file_empty_file(workspace: Workspace, root: Path) -> None:
    write(root / "empty.txt", "")
    assert call(ReadFile, workspace, path="empty.txt") == "(empty file)"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": "src/app.py", "start_line": 9}, "past the end"),
        ({"path": "src/app.py", "start_line": 3, "end_line": 2}, "before start_line"),
        ({"path": "src/app.py", "start_line": 0}, "1 or more"),
        ({"path": "src/app.py", "start_line": True}, "must be an integer"),
        ({"path": "missing.py"}, "no such file"),
        ({"path": "src"}, "is a directory"),
        ({}, "'path' is required"),
    ],
)
def test_read_file_refuses_bad_arguments(
    workspace: Workspace, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        ReadFile().execute(workspace, arguments)


def test_read_file_caps_large_file_and_says_where_to_continue(root: Path) -> None:
    workspace = Workspace(root, max_read_bytes=1000)
    write(root / "big.txt", "".join(f"line {n} with some padding text\n" for n in range(1, 501)))

    first = call(ReadFile, workspace, path="big.txt")

    *numbered, notice = first.splitlines()
    assert len("\n".join(line.split("| ", 1)[1] for line in numbered)) <= 1000
    assert "truncated" in notice
    resume = int(notice.rsplit("start_line=", 1)[1].rstrip("]"))
    assert resume == len(numbered)  # the last, cut line is read again in full
    second = call(ReadFile, workspace, path="big.txt", start_line=resume)
    assert second.splitlines()[0] == f"{resume:>4}| line {resume} with some padding text"


def test_read_excerpt_caps_one_enormous_line(root: Path) -> None:
    (root / "minified.js").write_bytes(b"x" * 20_000_000)
    workspace = Workspace(root, max_read_bytes=5000)

    started = time.monotonic()
    excerpt = workspace.read_excerpt("minified.js")

    assert time.monotonic() - started < 2
    assert len(excerpt.text) == 5000
    assert excerpt.truncation_notice == (
        "[truncated at the 5000-byte read limit; continue with start_line=1]"
    )


def test_read_file_refuses_a_start_line_too_deep_in_the_file(
    workspace: Workspace, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orchestrator.workspace._MAX_SKIP_BYTES", 100)
    write(root / "log.txt", "0123456789\n" * 50)
    assert "  10| 0123456789" in call(ReadFile, workspace, path="log.txt", start_line=10)
    with pytest.raises(ToolError, match="too far to read"):
        call(ReadFile, workspace, path="log.txt", start_line=40)


def test_read_file_refuses_binary(workspace: Workspace, root: Path) -> None:
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ToolError, match="binary"):
        call(ReadFile, workspace, path="image.png")


def test_read_excerpt_replaces_invalid_utf8(workspace: Workspace, root: Path) -> None:
    (root / "latin1.txt").write_bytes(b"caf\xe9\n")
    assert workspace.read_excerpt("latin1.txt").text == "caf\ufffd\n"


# --- the sandbox -------------------------------------------------------------------------


@pytest.fixture
def escape_links(root: Path, tmp_path: Path) -> None:
    (root / "link_file").symlink_to(tmp_path / "outside" / "secret.txt")
    (root / "link_dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "git_link").symlink_to(root / ".git" / "config")


@pytest.mark.usefixtures("escape_links")
@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "src/../../outside/secret.txt",
        "/etc/passwd",
        "link_file",
        "link_dir/secret.txt",
        ".git/config",
        "src/../.git/config",
        ".GIT/config",
        "git_link",
        "src/app.py\0.txt",
    ],
)
def test_sandbox_refuses_escapes(workspace: Workspace, path: str) -> None:
    with pytest.raises(SandboxError):
        call(ReadFile, workspace, path=path)


def test_sandbox_refuses_absolute_path_outside(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="outside the workspace"):
        workspace.resolve(str(tmp_path / "outside" / "secret.txt"))


def test_sandbox_allows_symlink_inside_root(workspace: Workspace, root: Path) -> None:
    (root / "alias.py").symlink_to(root / "src" / "app.py")
    assert workspace.resolve("alias.py") == root / "src" / "app.py"
    assert "import os" in call(ReadFile, workspace, path="alias.py")


def test_sandbox_errors_are_tool_errors() -> None:
    # Tools let SandboxError propagate; the agent loop only has to catch ToolError.
    assert issubclass(SandboxError, ToolError)


@pytest.fixture(scope="module")
def property_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    base = tmp_path_factory.mktemp("property")
    root = base / "ws"
    write(root / "inside" / "file.txt", "x\n")
    write(root / ".git" / "config", "")
    write(base / "etc" / "secret", "x\n")
    (root / "link_out").symlink_to(base / "etc", target_is_directory=True)
    (root / "inside" / "up").symlink_to(base, target_is_directory=True)
    return Workspace(root)


path_parts = st.sampled_from(
    ["..", ".", "", ".git", ".GIT", "inside", "up", "link_out", "etc", "secret", "file.txt", "\0"]
)
path_strings = st.one_of(
    st.text(),
    st.lists(st.one_of(path_parts, st.text(max_size=5)), max_size=8).map("/".join),
    st.lists(path_parts, max_size=8).map(lambda parts: "/" + "/".join(parts)),
)


@settings(max_examples=400, deadline=None)
@given(path=path_strings)
def test_resolve_never_escapes(property_workspace: Workspace, path: str) -> None:
    root = property_workspace.root
    try:
        resolved = property_workspace.resolve(path)
    except SandboxError:
        return
    assert resolved.is_relative_to(root)
    assert Path(os.path.realpath(resolved)) == resolved
    assert ".git" not in [part.casefold() for part in resolved.relative_to(root).parts]


def test_modules_import_in_any_order() -> None:
    # tools.base imports workspace, which must never import the tools back.
    for module in ("orchestrator.workspace", "orchestrator.tools.base", "orchestrator.tools"):
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)


# --- list_files and .gitignore -----------------------------------------------------------


@pytest.fixture
def ignoring_root(root: Path, tmp_path: Path) -> Path:
    write(root / ".gitignore", "*.log\nbuild/\n/top_only.txt\n")
    write(root / "debug.log", "noise\n")
    write(root / "build" / "out.py", "main = 1\n")
    write(root / "top_only.txt", "main\n")
    write(root / "src" / "top_only.txt", "main\n")
    write(root / "src" / ".gitignore", "generated/\nlocal.py\n!keep.log\n")
    write(root / "src" / "generated" / "gen.py", "main = 2\n")
    write(root / "src" / "local.py", "main = 3\n")
    write(root / "src" / "keep.log", "main kept\n")
    write(root / "src" / "deep" / "local.py", "main = 4\n")
    (root / "linked_src").symlink_to(root / "src", target_is_directory=True)
    (root / "outside_dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "outside_file").symlink_to(tmp_path / "outside" / "secret.txt")
    (root / "alias.md").symlink_to(root / "README.md")
    return root


def test_list_files_honours_gitignore_and_skips_links_out(ignoring_root: Path) -> None:
    output = call(ListFiles, Workspace(ignoring_root))
    assert output.splitlines() == [
        ".gitignore",
        "README.md",
        "alias.md",
        "src/.gitignore",
        "src/app.py",
        "src/keep.log",
        "src/top_only.txt",
    ]


def test_list_files_subdirectory_applies_parent_gitignore(ignoring_root: Path) -> None:
    output = call(ListFiles, Workspace(ignoring_root), path="src")
    assert output.splitlines() == [
        "src/.gitignore",
        "src/app.py",
        "src/keep.log",
        "src/top_only.txt",
    ]


def test_list_files_limit(workspace: Workspace, root: Path) -> None:
    for n in range(5):
        write(root / "many" / f"f{n}.txt", "")
    output = call(ListFiles, workspace, path="many", max_entries=3).splitlines()
    assert output[:3] == ["many/f0.txt", "many/f1.txt", "many/f2.txt"]
    assert "more files not shown" in output[3]


def test_list_files_refuses_escape(workspace: Workspace) -> None:
    with pytest.raises(SandboxError):
        call(ListFiles, workspace, path="..")


def test_iter_files_is_bounded(workspace: Workspace, root: Path) -> None:
    for n in range(30):
        write(root / "many" / f"f{n:02}.txt", "")
    assert len(list(workspace.iter_files("many", max_files=7))) == 7


# --- search ------------------------------------------------------------------------------


def test_search_reports_path_line_text(ignoring_root: Path) -> None:
    output = call(Search, Workspace(ignoring_root), pattern=r"\bmain\b")
    # ripgrep follows no symlink: alias.md is searched as README.md only.
    assert output.splitlines() == [
        "README.md:2: main entry point",
        "src/app.py:3: def main():",
        "src/keep.log:1: main kept",
        "src/top_only.txt:1: main",
    ]


def test_search_in_one_file(workspace: Workspace) -> None:
    assert call(Search, workspace, pattern="getcwd", path="src/app.py") == (
        "src/app.py:4: return os.getcwd()"
    )


def test_search_no_matches(workspace: Workspace) -> None:
    assert call(Search, workspace, pattern="nowhere").startswith("No matches")


def test_search_invalid_regex(workspace: Workspace) -> None:
    with pytest.raises(
        ToolError, match=r"invalid regular expression '\(unclosed'(.|\n)*unclosed group"
    ):
        call(Search, workspace, pattern="(unclosed")


def test_search_caps_results_and_line_length(workspace: Workspace, root: Path) -> None:
    write(root / "long.txt", ("needle " + "x" * 1000 + "\n") * 250)
    lines = call(Search, workspace, pattern="needle", max_results=500).splitlines()
    assert len(lines) == 201  # capped at 200, plus the footer
    assert "stopped at 200 matches" in lines[-1]
    assert all(len(line) < 330 for line in lines)


def test_search_skips_binary_files_and_reads_large_ones(root: Path) -> None:
    workspace = Workspace(root, max_read_bytes=2000)
    (root / "blob.bin").write_bytes(b"needle\0\0")
    write(root / "huge.txt", "hay\n" * 1000 + "needle\n")
    write(root / "small.txt", "needle\n")
    output = call(Search, workspace, pattern="needle").splitlines()
    assert output == ["huge.txt:1001: needle", "small.txt:1: needle"]


def test_search_in_one_binary_file_says_so(root: Path) -> None:
    (root / "blob.bin").write_bytes(b"needle\0\0")
    with pytest.raises(ToolError, match=r"blob\.bin is a binary file"):
        call(Search, Workspace(root), pattern="needle", path="blob.bin")


def test_search_in_a_subdirectory_applies_the_root_gitignore(ignoring_root: Path) -> None:
    write(ignoring_root / "src" / "debug.log", "main\n")
    output = call(Search, Workspace(ignoring_root), pattern="main", path="src")
    assert "src/debug.log" not in output
    assert "src/keep.log:1: main kept" in output


def test_search_is_linear_time_on_a_catastrophic_pattern(workspace: Workspace, root: Path) -> None:
    # Python's re takes minutes on this line (holding the GIL); a linear-time engine does not.
    write(root / "evil.txt", "a" * 5000 + "!\n")
    assert call(Search, workspace, pattern="(a+)+$").startswith("No matches")


def test_search_pattern_cannot_pass_options(workspace: Workspace) -> None:
    assert call(Search, workspace, pattern="--pre=sh").startswith("No matches")


def test_a_child_process_is_killed_on_the_active_cancel_and_at_its_time_limit(
    tmp_path: Path,
) -> None:
    """What keeps ripgrep and git from holding an agent past a cancel or a deadline."""
    token = CancelToken()
    with token.activated(), bounded(["sleep", "600"], cwd=tmp_path, env={}, timeout=600) as child:
        threading.Timer(0.05, token.cancel).start()
        cancelled = child.wait()
    with bounded(["sleep", "600"], cwd=tmp_path, env={}, timeout=0.05) as child:
        timed_out = child.wait()
    assert (cancelled.stopped_by, cancelled.returncode) == ("cancel", -signal.SIGKILL)
    assert (timed_out.stopped_by, timed_out.returncode) == ("timeout", -signal.SIGKILL)


def test_search_refuses_special_files(workspace: Workspace, root: Path) -> None:
    os.mkfifo(root / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        call(Search, workspace, pattern="x", path="pipe")


# --- git ---------------------------------------------------------------------------------


def test_git_diff_uncommitted_changes(repo: Path) -> None:
    output = call(GitDiff, Workspace(repo))
    assert "--- a/notes.txt" in output
    assert "+second" in output
    assert "calc.py" not in output


def test_git_diff_range_and_path(repo: Path) -> None:
    output = call(GitDiff, Workspace(repo), rev_range="HEAD~1..HEAD", path="calc.py")
    assert "+def sub(a, b):" in output
    assert "notes.txt" not in output
    assert call(GitDiff, Workspace(repo), rev_range="HEAD~1..HEAD", path="notes.txt") == (
        "No differences."
    )


def test_git_diff_is_limited_to_a_workspace_inside_the_repo(repo: Path) -> None:
    write(repo / "pkg" / "mod.py", "x = 1\n")
    git(repo, "add", "pkg")
    output = call(GitDiff, Workspace(repo / "pkg"))
    assert "+++ b/mod.py" in output  # paths relative to the workspace
    assert "notes.txt" not in output


@pytest.mark.parametrize(
    "rev_range",
    [
        "--output=/tmp/x",
        "-p",
        "HEAD --output=x",
        "HEAD:../secret",
        "HEAD;rm -rf /",
        " HEAD",
        "a" * 300,
    ],
)
def test_git_diff_refuses_option_injection(repo: Path, tmp_path: Path, rev_range: str) -> None:
    target = tmp_path / "injected"
    with pytest.raises(ToolError):
        call(GitDiff, Workspace(repo), rev_range=rev_range.replace("/tmp/x", str(target)))
    assert not target.exists()


def test_git_diff_path_goes_through_the_sandbox(repo: Path) -> None:
    with pytest.raises(SandboxError):
        call(GitDiff, Workspace(repo), path="../elsewhere")
    with pytest.raises(SandboxError):
        call(GitLog, Workspace(repo), path=".git")


def test_git_diff_caps_output(repo: Path) -> None:
    write(repo / "calc.py", "changed\n" * 5000)
    output = call(GitDiff, Workspace(repo, max_read_bytes=3000))
    assert len(output) < 3100
    assert "[truncated at 3000 bytes" in output


def test_git_log_lists_commits(repo: Path) -> None:
    lines = call(GitLog, Workspace(repo)).splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" Ada Lovelace: Add subtraction")
    assert lines[1].endswith(" Ada Lovelace: Add calculator")
    hash_, date, *_ = lines[0].split()
    assert len(hash_) >= 7
    assert len(date) == 10 and date[4] == "-"


def test_git_log_count_and_path(repo: Path) -> None:
    assert len(call(GitLog, Workspace(repo), max_count=1).splitlines()) == 1
    lines = call(GitLog, Workspace(repo), path="notes.txt").splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == ["Add calculator"]


def test_git_tools_outside_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for tool in (GitDiff, GitLog):
        with pytest.raises(ToolError, match="not inside a git repository"):
            call(tool, Workspace(plain))


# --- discovery ---------------------------------------------------------------------------


@pytest.fixture
def fresh_discovery() -> Iterator[None]:
    discover_tools.cache_clear()
    yield
    discover_tools.cache_clear()


@pytest.mark.usefixtures("fresh_discovery")
def test_discovery_finds_the_builtins() -> None:
    assert dict(discover_tools()) == {
        "git_diff": GitDiff,
        "git_log": GitLog,
        "list_files": ListFiles,
        "read_file": ReadFile,
        "search": Search,
    }


@pytest.mark.usefixtures("fresh_discovery")
def test_build_tools() -> None:
    assert [tool.name for tool in build_tools(None)] == sorted(discover_tools())
    assert [type(tool) for tool in build_tools(["search", "read_file"])] == [Search, ReadFile]
    with pytest.raises(ValueError, match=r"unknown tool\(s\): shell; known tools: git_diff, "):
        build_tools(["read_file", "shell"])


def test_schemas_are_openai_function_tools() -> None:
    for tool in discover_tools().values():
        schema = tool.schema()
        assert schema["type"] == "function"
        assert schema["function"]["name"] == tool.name
        assert schema["function"]["parameters"]["type"] == "object"


@pytest.mark.usefixtures("fresh_discovery")
def test_discovery_loads_entry_points_and_survives_bad_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site = tmp_path / "site"
    write(
        site / "deepthink_echo_plugin.py",
        textwrap.dedent(
            """
            from orchestrator.tools.base import Tool

            class Echo(Tool):
                name = "echo"
                description = "Echo the text back."
                parameters = {"type": "object", "properties": {"text": {"type": "string"}}}

                def execute(self, workspace, arguments):
                    return arguments["text"]

            class Impostor(Echo):
                name = "read_file"

            NOT_A_TOOL = 42
            """
        ),
    )
    dist_info = site / "deepthink_echo_plugin-1.0.dist-info"
    write(dist_info / "METADATA", "Metadata-Version: 2.1\nName: deepthink-echo-plugin\n")
    write(
        dist_info / "entry_points.txt",
        f"[{ENTRY_POINT_GROUP}]\n"
        "echo = deepthink_echo_plugin:Echo\n"
        "impostor = deepthink_echo_plugin:Impostor\n"
        "broken = deepthink_missing_module:Thing\n"
        "constant = deepthink_echo_plugin:NOT_A_TOOL\n"
        "builtin_again = orchestrator.tools.search:Search\n",
    )
    monkeypatch.syspath_prepend(site)
    monkeypatch.delitem(sys.modules, "deepthink_echo_plugin", raising=False)

    with caplog.at_level(logging.WARNING, logger="orchestrator.tools"):
        tools = discover_tools()

    assert tools["echo"].__module__ == "deepthink_echo_plugin"
    assert tools["read_file"] is ReadFile
    assert tools["search"] is Search
    assert set(tools) == {"echo", "git_diff", "git_log", "list_files", "read_file", "search"}
    warnings = "\n".join(record.getMessage() for record in caplog.records)
    assert "'broken'" in warnings and "failed to load" in warnings
    assert "'constant'" in warnings and "not a concrete Tool" in warnings
    assert "'impostor'" in warnings and "orchestrator.tools.read_file.ReadFile" in warnings
    assert "builtin_again" not in warnings
    assert build_tools(["echo"])[0].execute(Workspace(tmp_path), {"text": "hi"}) == "hi"


# --- secrets and ignored files -------------------------------------------------------------


@pytest.fixture
def secrets_root(root: Path) -> Path:
    write(root / ".gitignore", "local/\n*.log\n")
    write(root / ".env", "API_TOKEN=hunter2\n")
    write(root / "config" / ".env.production", "API_TOKEN=hunter2\n")
    write(root / "deploy" / "id_rsa", "-----BEGIN OPENSSH PRIVATE KEY----- hunter2\n")
    write(root / "certs" / "server.pem", "hunter2\n")
    write(root / ".npmrc", "//registry/:_authToken=hunter2\n")
    write(root / "local" / "notes.txt", "hunter2\n")
    write(root / "debug.log", "hunter2\n")
    write(root / "src" / "settings.py", "TOKEN = load('hunter2')\n")
    return root


@pytest.mark.parametrize(
    ("path", "why"),
    [
        (".env", "may hold secrets"),
        ("config/.env.production", "may hold secrets"),
        ("deploy/id_rsa", "may hold secrets"),
        ("certs/server.pem", "may hold secrets"),
        (".npmrc", "may hold secrets"),
        ("local/notes.txt", "is ignored by .gitignore"),
        ("debug.log", "is ignored by .gitignore"),
    ],
)
def test_agents_may_not_read_secrets_or_ignored_files(
    secrets_root: Path, path: str, why: str
) -> None:
    with pytest.raises(ToolError) as refused:
        call(ReadFile, Workspace(secrets_root), path=path)
    assert f"refused: {path} {why}" in str(refused.value)
    assert "agent.allow_paths" in str(refused.value)


def test_search_shows_no_line_of_a_secret(secrets_root: Path) -> None:
    output = call(Search, Workspace(secrets_root), pattern="hunter2")
    assert output.splitlines() == [
        "src/settings.py:1: TOKEN = load('hunter2')",
        "[5 match(es) in files agents may not read are not shown]",
    ]


def test_git_diff_leaves_out_the_changes_of_a_tracked_secret(repo: Path) -> None:
    write(repo / ".env", "TOKEN=old\n")
    write(repo / "keys" / "deploy key.pem", "old\n")
    git(repo, "add", ".env", "keys")
    git(repo, "commit", "-q", "-m", "Add secrets")
    write(repo / ".env", "TOKEN=hunter2\n")
    write(repo / "keys" / "deploy key.pem", "hunter2\n")
    git(repo, "mv", "keys/deploy key.pem", "keys/moved.pem")

    output = call(GitDiff, Workspace(repo))

    assert "hunter2" not in output and "TOKEN" not in output
    assert "+second" in output  # notes.txt, which anyone may read
    assert output.endswith("[changes to 3 file(s) agents may not read are not shown]\n")


def test_allow_and_deny_paths_adjust_what_agents_may_read(secrets_root: Path) -> None:
    policy = ReadPolicy(allow=(".env", "local/"), deny=("src/settings.py",))
    workspace = Workspace(secrets_root).with_policy(policy)
    assert "hunter2" in call(ReadFile, workspace, path=".env")
    assert "hunter2" in call(ReadFile, workspace, path="local/notes.txt")
    with pytest.raises(ToolError, match="may hold secrets"):
        call(ReadFile, workspace, path="config/.env.production")
    with pytest.raises(ToolError, match=r"matches agent\.deny_paths"):
        call(ReadFile, workspace, path="src/settings.py")


# --- files open in an editor with unsaved edits ---------------------------------------------


def test_read_file_reads_the_editors_unsaved_text(root: Path) -> None:
    edited = "import os\n\ndef main():\n    # unsaved\n    return os.getcwd()\n"
    workspace = Workspace(root, buffers={str(root / "src" / "app.py"): edited})

    assert workspace.unsaved == {"src/app.py": edited}
    assert "   4|     # unsaved\n   5|     return" in call(ReadFile, workspace, path="src/app.py")
    assert call(ReadFile, workspace, path="src/app.py", start_line=4, end_line=4) == (
        "   4|     # unsaved"
    )


def test_a_new_file_not_saved_yet_is_read_from_the_editor(root: Path) -> None:
    workspace = Workspace(root, buffers={"src/new.py": "x = 1\n"})

    assert workspace.has_file("src/new.py") and not (root / "src" / "new.py").exists()
    assert call(ReadFile, workspace, path="src/new.py") == "   1| x = 1"


def test_buffers_as_saved_or_outside_the_workspace_are_not_unsaved(
    root: Path, tmp_path: Path
) -> None:
    saved = (root / "README.md").read_text()
    buffers = {
        str(root / "README.md"): saved,
        str(tmp_path / "outside" / "secret.txt"): "TOP SECRET, edited\n",
        str(root / ".git" / "config"): "[core]\n",
    }
    workspace = Workspace(root, buffers=buffers)

    assert workspace.unsaved == {}
    with pytest.raises(SandboxError):
        call(ReadFile, workspace, path="../outside/secret.txt")


def test_the_read_policy_refuses_unsaved_text_as_it_refuses_the_file(root: Path) -> None:
    buffers = {".env": "API_KEY=edited\n", "id_rsa": "-----BEGIN KEY-----\n"}
    workspace = Workspace(root, buffers=buffers).with_policy(ReadPolicy())

    for path in buffers:
        with pytest.raises(ToolError, match="may hold secrets"):
            call(ReadFile, workspace, path=path)
    allowed = workspace.with_policy(ReadPolicy(allow=(".env",)))
    assert call(ReadFile, allowed, path=".env") == "   1| API_KEY=edited"


def test_search_reads_files_open_with_unsaved_edits_as_the_editor_has_them(root: Path) -> None:
    edited = "import os\n\ndef main():\n    return os.getcwd()  # main, edited\n"
    buffers = {"src/app.py": edited, "src/new.py": "main()\n", ".env": "main=1\n"}
    workspace = Workspace(root, buffers=buffers)

    everywhere = call(Search, workspace, pattern="main")
    in_the_new_file = call(Search, workspace, pattern="main", path="src/new.py")
    as_saved_only = call(Search, workspace, pattern="getcwd..$", path="src")
    cut = call(Search, workspace, pattern="main", max_results=2)

    assert everywhere.splitlines() == [
        "README.md:2: main entry point",
        "src/app.py:3: def main():",
        "src/app.py:4: return os.getcwd()  # main, edited",
        "src/new.py:1: main()",
    ]
    assert in_the_new_file == "src/new.py:1: main()"
    assert as_saved_only == "No matches for 'getcwd..$' in src."
    assert cut.splitlines() == [
        "README.md:2: main entry point",
        "src/app.py:3: def main():",
        "[stopped at 2 matches; narrow the pattern or path]",
    ]

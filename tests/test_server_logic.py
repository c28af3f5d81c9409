"""The server's pure parts, without an editor: anchors, comments, citations, arguments,
settings, stored results, progress texts and throttling, selections and diffs."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.workspace import TextDocument

from orchestrator.config import ConfigError
from orchestrator.context import split_lines
from orchestrator.llm import Usage
from orchestrator.progress import AgentState, AgentStatus, Phase, Snapshot
from orchestrator.request import Mode
from orchestrator.result import (
    AgentResult,
    CallUsage,
    Finding,
    PhaseCost,
    Rank,
    Rejected,
    RunResult,
    RunStatus,
    Severity,
    View,
)
from server.actions import Scope, code_actions, parse_run_arguments, resolve_code_action
from server.anchors import Anchor, anchor_lines, follow, line_break_of, relocate
from server.backend import Backend, CannotRun, NothingToDo
from server.citations import link_citations
from server.comments import comment_insertion, style_for
from server.gitdiff import uncommitted_diff, workspace_diff
from server.reporting import (
    ProgressReporter,
    agent_views,
    begin_title,
    end_message,
    hover_footer,
    report_details,
    report_message,
)
from server.results import DiagnosticStore, HoverStore, finding_diagnostic
from server.selection import (
    DEFAULT_QUESTION,
    build_request,
    selected_lines,
    take_selection,
    workspace_root,
)
from server.settings import Output, load_settings
from tests.gitrepo import git

CODE = "import os\n\ndef f(x):\n    return x\n\ndef g(y):\n    return y\n"


def at(line: int, character: int = 0) -> types.Position:
    return types.Position(line, character)


def partial(
    start: types.Position, end: types.Position, text: str
) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(range=types.Range(start, end), text=text)


# --- anchors ---------------------------------------------------------------------------------


def test_lines_split_only_where_lsp_breaks_lines() -> None:
    assert split_lines("a\r\nb\rc\nd\x0ce\u2028f") == ["a", "b", "c", "d\x0ce\u2028f"]
    assert line_break_of("a\r\nb\n") == "\r\n"
    assert line_break_of("no break") == "\n"


def test_relocate_finds_the_lines_nearest_to_where_they_were() -> None:
    text = "x\n}\ny\n}\nz\n}\n"
    assert relocate(Anchor(3, ("}",)), text) == Anchor(3, ("}",))
    assert relocate(Anchor(2, ("}",)), text) == Anchor(3, ("}",))  # a tie: the later one
    assert relocate(Anchor(0, ("}", "y")), "a\nb\n" + text) == Anchor(3, ("}", "y"))


def test_relocate_tolerates_whitespace_changes_and_gives_up_on_real_ones() -> None:
    anchor = anchor_lines(CODE, 2, 3)
    reindented = CODE.replace("    return x", "  return x  ")
    assert relocate(anchor, reindented) == Anchor(2, ("def f(x):", "  return x  "))
    assert relocate(anchor, CODE.replace("return x", "return x + 1")) is None
    assert relocate(Anchor(0, (*split_lines(CODE), "more")), CODE) is None


def followed(anchor: Anchor, text: str, *changes: types.TextDocumentContentChangeEvent) -> object:
    """`follow` as the server calls it: the changes of one didChange and the text they lead to."""
    document = TextDocument("file:///w/a.py", text)
    for change in changes:
        document.apply_change(change)
    return follow(anchor, changes, document.source)


def test_follow_moves_with_lines_added_or_removed_above() -> None:
    anchor = anchor_lines(CODE, 2, 3)
    assert followed(anchor, CODE, partial(at(1), at(1), "a\nb\n")) == anchor.moved(2)
    assert followed(anchor, CODE, partial(at(0), at(2), "")) == anchor.moved(-2)
    assert followed(anchor, CODE, partial(at(2), at(2), "# comment\n")) == anchor.moved(1)
    assert followed(anchor, CODE, partial(at(0, 3), at(0, 5), "xyz")) == anchor
    assert followed(anchor, CODE, partial(at(5), at(6), "changed below")) == anchor
    two = (partial(at(0), at(0), "# one\n"), partial(at(1), at(1), "# two\n"))
    assert followed(anchor, CODE, *two) == anchor.moved(2)


def test_follow_keeps_the_anchor_when_its_first_line_is_replaced_by_lines_plus_itself() -> None:
    # Neovim reports lines inserted above line 2 as a replacement of line 2.
    anchor = anchor_lines(CODE, 2, 3)
    first = CODE.split("\n")[2]
    neovim = partial(at(2), at(2, len(first)), f"# Deep think:\n# it returns x\n{first}")
    assert followed(anchor, CODE, neovim) == anchor.moved(2)
    # ... and the same edit followed by a pure insertion in the same didChange.
    assert followed(anchor, CODE, neovim, partial(at(0), at(0), "# top\n")) == anchor.moved(3)


def test_follow_drops_the_anchor_when_its_lines_are_touched() -> None:
    anchor = anchor_lines(CODE, 2, 3)
    assert followed(anchor, CODE, partial(at(3, 4), at(3, 10), "yield")) is None
    assert followed(anchor, CODE, partial(at(2), at(2), "async ")) is None  # prefixes line 1
    assert followed(anchor, CODE, partial(at(1, 0), at(2, 0), "")) == anchor.moved(-1)
    assert followed(anchor, CODE, partial(at(0, 9), at(2, 0), "")) is None  # joins a line above
    assert followed(anchor, CODE, partial(at(3, 12), at(5, 0), "")) is None  # joins the next
    assert followed(anchor, CODE, partial(at(3), at(3), "    y = 1\n")) is None  # splits it


def test_follow_does_not_jump_to_a_copy_of_the_code_elsewhere() -> None:
    text = "def f(x):\n    return x\n\ndef f(x):\n    return x\n"
    anchor = anchor_lines(text, 3, 4)
    assert followed(anchor, text, partial(at(4, 11), at(4, 12), "y")) is None


def test_follow_relocates_after_a_whole_document_change() -> None:
    anchor = anchor_lines(CODE, 2, 3)
    whole = types.TextDocumentContentChangeWholeDocument(text="# header\n" + CODE)
    assert followed(anchor, CODE, whole) == anchor.moved(1)
    assert followed(anchor, CODE, types.TextDocumentContentChangeWholeDocument(text="")) is None


# --- comments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "marker"),
    [
        ("python", "#"),
        ("shellscript", "#"),
        ("sh", "#"),
        ("javascript", "//"),
        ("typescript", "//"),
        ("typescriptreact", "//"),
        ("go", "//"),
        ("rust", "//"),
        ("c", "//"),
        ("cpp", "//"),
        ("java", "//"),
        ("lua", "--"),
        ("sql", "--"),
    ],
)
def test_line_comment_syntax_per_language(language: str, marker: str) -> None:
    style = style_for(language)
    assert style is not None and style.line == marker


def test_unknown_languages_get_no_comment_rather_than_a_guess() -> None:
    assert style_for("json") is None
    assert style_for("") is None
    assert style_for("no-such-language") is None


def test_comment_is_inserted_above_the_selection_and_indented_like_it() -> None:
    lines = ["class A:", "    def f(self):", "        return 1"]
    style = style_for("python")
    assert style is not None
    insertion = comment_insertion(lines, Anchor(1, tuple(lines[1:])), style, "H:", "one\n\ntwo")
    assert insertion.line == 1
    assert insertion.text == "    # H:\n    # one\n    #\n    # two\n"


def test_every_line_of_heading_and_text_is_commented() -> None:
    style = style_for("python")
    assert style is not None
    heading = "Deep think (ask): why\nthis?"
    text = "a\r\nb\u2028c"
    insertion = comment_insertion(["x = 1"], Anchor(0, ("x = 1",)), style, heading, text)
    assert all(line.startswith("#") for line in insertion.text.splitlines())
    assert insertion.text.count("\n") == len(insertion.text.splitlines())


def test_no_comment_line_ends_in_a_backslash_that_would_continue_it() -> None:
    style = style_for("cpp")
    assert style is not None
    lines = ["int x = 1;"]
    insertion = comment_insertion(lines, Anchor(0, tuple(lines)), style, "H:", "hard\\\nbreak \\ ")
    assert insertion.text == "// H:\n// hard\n// break\n"


def test_comment_keeps_the_documents_line_breaks() -> None:
    style = style_for("go")
    assert style is not None
    insertion = comment_insertion(["x := 1"], Anchor(0, ("x := 1",)), style, "H:", "a", "\r\n")
    assert insertion.text == "// H:\r\n// a\r\n"


def test_comment_never_splits_a_continued_line_or_goes_above_a_shebang() -> None:
    style = style_for("shellscript")
    assert style is not None
    lines = ["#!/bin/sh", "echo a \\", "  b", "echo c"]
    assert comment_insertion(lines, Anchor(2, ("  b",)), style, "H:", "t").line == 1
    assert comment_insertion(lines, Anchor(0, ("#!/bin/sh",)), style, "H:", "t").line == 1


def test_block_comments_cannot_be_closed_by_the_text() -> None:
    style = style_for("css")
    assert style is not None
    insertion = comment_insertion(["  a { }"], Anchor(0, ("  a { }",)), style, "H:", "x */ y")
    assert insertion.text == "  /*\n  H:\n  x * / y\n  */\n"


def test_markdown_reads_as_plain_text_in_the_comment() -> None:
    style = style_for("python")
    assert style is not None
    markdown = (
        "## Summary\nIt **divides** by zero ([`a.py:5`](file:///w/a.py#L5)).\n\n"
        "- " + "word " * 30 + "\n- short\n\n```\n" + "x = 1  " * 20 + "\n```\n"
    )
    text = comment_insertion(["y = 2"], Anchor(0, ("y = 2",)), style, "H:", markdown).text
    assert "#" not in text.replace("# ", "").replace("#\n", "")  # no markdown headings
    assert "**" not in text and "](" not in text and "file://" not in text
    lines = text.splitlines()
    assert lines[:3] == ["# H:", "# Summary:", "# It divides by zero (`a.py:5`)."]
    assert all(len(line) <= 100 for line in lines if "x = 1" not in line)
    bullet = next(n for n, line in enumerate(lines) if line.startswith("# - word"))
    assert lines[bullet + 1].startswith("#   word")  # continued under the bullet's text
    assert "#     " + ("x = 1  " * 20).rstrip() in lines  # code keeps its line, indented


def test_a_long_result_is_cut_to_max_lines_with_a_pointer_to_the_rest() -> None:
    style = style_for("go")
    assert style is not None
    markdown = "\n\n".join(f"Paragraph {n}." for n in range(20))
    text = comment_insertion(["x := 1"], Anchor(0, ("x := 1",)), style, "H:", markdown, max_lines=5)
    assert text.text.splitlines() == [
        "// H:",
        "// Paragraph 0.",
        "//",
        "// Paragraph 1.",
        "// [… 36 more lines: hover over the code to read it all]",
    ]


# --- citations -------------------------------------------------------------------------------


def resolve(path: str) -> str | None:
    files = {"a.py": "file:///w/a.py"}
    return files.get(path.removeprefix("./"))


def test_citations_become_links_to_the_line() -> None:
    text = "See `a.py:2`, a.py:3-4 and ./a.py:9:1."
    assert link_citations(text, resolve) == (
        "See [`a.py:2`](file:///w/a.py#L2), [a.py:3-4](file:///w/a.py#L3) and "
        "[./a.py:9](file:///w/a.py#L9):1."
    )


def test_each_agents_view_names_those_that_did_not_raise_it() -> None:
    agents = [
        AgentResult(0, "security", "q", "m", AgentState.DONE),
        AgentResult(1, "tests", "q", "m", AgentState.DONE),
        AgentResult(2, "style", "q", "m", AgentState.TIMED_OUT),
    ]
    merged = Finding(
        "a.py", 2, 2, Severity.ERROR, "b may be 0", agents=(1,), of_agents=2,
        views=(View(1, "b may be 0"),),
    )  # fmt: skip
    assert agent_views(merged, agents).splitlines() == [
        "Deep think: each agent's view of a.py:2",
        "agent 1 (security): b may be 0",
        "agent 2 (tests): did not raise it",
        "agent 3 (style): gave no answer (timed out)",
    ]
    own = Finding("a.py", 5, 5, Severity.HINT, "naming")
    assert agent_views(own, agents[:1]).splitlines()[1:] == [
        "No agent raised it: the synthesis did, from their answers.",
        "agent 1 (security): did not raise it",
    ]


def test_citations_of_lines_the_file_lacks_stay_text() -> None:
    text = "See `a.py:2` and a.py:99."
    assert link_citations(text, resolve, {"a.py:99"}) == (
        "See [`a.py:2`](file:///w/a.py#L2) and a.py:99."
    )


def test_citations_leave_code_links_urls_and_unknown_files_alone() -> None:
    text = "\n".join(
        [
            "```",
            "a.py:2",
            "```",
            "`call(a.py:2)` [a.py:2](elsewhere) http://host/a.py:2 c.py:1 10:30",
        ]
    )
    assert link_citations(text, resolve) == text


def test_link_targets_escape_parentheses_of_the_workspace_path() -> None:
    linked = link_citations("a.py:1", lambda path: "file:///home/me/work%20(old)/a.py")
    assert linked == "[a.py:1](file:///home/me/work%20%28old%29/a.py#L1)"


# --- command arguments and code actions ------------------------------------------------------

URI = "file:///w/a.py"
SELECTED = types.Range(at(2), at(3, 12))
ARGUMENTS = {
    "uri": URI,
    "range": {"start": {"line": 2, "character": 0}, "end": {"line": 3, "character": 12}},
    "mode": "ask",
    "question": "  Why?  ",
    "output": "hover",
}


def test_run_arguments_are_read_as_a_client_sends_them() -> None:
    args = parse_run_arguments(ARGUMENTS)
    assert (args.uri, args.range, args.mode) == (URI, SELECTED, Mode.ASK)
    assert (args.question, args.output) == ("Why?", Output.HOVER)
    assert args.to_json() == {**ARGUMENTS, "question": "Why?"}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"mode": "summarise"}, "mode: expected one of 'explain', 'review', 'ask', 'review-diff'"),
        ({"output": "popup"}, "output: expected 'comment' or 'hover'"),
        ({"output": ["hover"]}, "output: expected 'comment' or 'hover'"),
        ({"mode": {"name": "explain"}}, "mode: expected one of"),
        ({"range": {"start": {"line": 1}}}, "range: expected {start: {line, character}"),
        ({"uri": ""}, "uri: expected a document URI"),
        ({"question": 3}, "question: expected a string"),
        ({"selection": "x"}, "unknown argument keys: selection"),
        ({"range": None}, "range: expected"),
        ({"mode": "review-diff", "scope": "repo"}, "scope: expected 'file' or 'workspace'"),
        ({"workDoneToken": True}, "workDoneToken: expected a string or an integer"),
    ],
)
def test_bad_run_arguments_say_what_is_wrong(change: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValueError, match="^" + complaint.replace("{", r"\{").replace("?", r"\?")):
        parse_run_arguments({**ARGUMENTS, **change})


def test_a_review_diff_needs_no_range_and_may_cover_the_workspace() -> None:
    args = parse_run_arguments({"uri": URI, "mode": "review-diff", "scope": "workspace"})
    assert (args.range, args.scope) == (None, Scope.WORKSPACE)
    assert parse_run_arguments({"uri": URI, "mode": "review-diff"}).scope is Scope.FILE
    token = parse_run_arguments({**ARGUMENTS, "workDoneToken": "client-1"})
    assert token.work_done_token == "client-1"
    assert token.to_json()["workDoneToken"] == "client-1"


def test_code_actions_carry_the_command_now_or_on_resolve() -> None:
    later = code_actions(URI, SELECTED, None, resolve_command=True)
    now = code_actions(URI, SELECTED, None, resolve_command=False)
    assert [action.command for action in later] == [None] * 5
    assert [resolve_code_action(action) for action in later] == now
    assert now[2].command is not None
    assert now[2].command.arguments == [{"uri": URI, "range": ARGUMENTS["range"], "mode": "ask"}]
    assert [action.title for action in now] == [
        "Deep think: explain",
        "Deep think: review",
        "Deep think: ask…",
        "Deep think: review diff (this file)",
        "Deep think: review diff (workspace)",
    ]
    assert now[4].command is not None
    assert now[4].command.arguments == [{"uri": URI, "mode": "review-diff", "scope": "workspace"}]


def test_code_actions_at_a_cursor_offer_the_review_diffs_when_asked_for() -> None:
    cursor = types.Range(at(2, 1), at(2, 1))
    asked = code_actions(URI, cursor, None, True, invoked=True)
    assert [action.data["scope"] for action in asked] == ["file", "workspace"]  # type: ignore[index]
    assert code_actions(URI, cursor, None, True, invoked=False) == []  # no light bulb everywhere
    assert code_actions(URI, SELECTED, ["quickfix"], True) == []
    assert len(code_actions(URI, SELECTED, ["deepthink"], True)) == 5


# --- settings --------------------------------------------------------------------------------


def test_settings_layer_workspace_configuration_over_initialization_options(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        None,
        {"orchestrator": {"parallel_agents": 2, "task_timeout": 30}, "output": "hover"},
        {"orchestrator": {"parallel_agents": 3, "synthesis_model": None}, "output": None},
        env={},
    )
    assert settings.config.orchestrator.parallel_agents == 3
    assert settings.config.orchestrator.task_timeout == 30
    assert settings.output is Output.HOVER  # null means "not set", not "reset"


@pytest.mark.parametrize(
    "provider", [{"base_url": "https://collector.example/v1"}, {"api_key_env": "HOME"}]
)
def test_only_initialization_options_may_choose_where_the_key_goes(
    provider: dict[str, str],
) -> None:
    (key,) = provider
    with pytest.raises(ConfigError) as raised:
        load_settings(None, None, {"provider": provider}, env={})
    assert str(raised.value).startswith(
        f"workspace/configuration (deepthink): provider.{key}: workspace settings may not "
        "choose where your API key is sent"
    )
    assert "initializationOptions" in str(raised.value)
    settings = load_settings(None, {"provider": provider}, {"provider": {"model": "m"}}, env={})
    assert getattr(settings.config.provider, key) == provider[key]
    # Clients that send the same settings both ways only repeat the choice.
    settings = load_settings(None, {"provider": provider}, {"provider": provider}, env={})
    assert getattr(settings.config.provider, key) == provider[key]
    with pytest.raises(ConfigError, match="workspace settings may not choose"):
        load_settings(None, {"provider": provider}, {"provider": {key: "OTHER"}}, env={})


@pytest.mark.parametrize(
    ("workspace_values", "complaint"),
    [
        ({"orchestrator": {"parallel_agent": 3}}, "did you mean 'parallel_agents'"),
        ({"provider": {"api_key": "sk-secret"}}, "API keys do not belong"),
        ({"output": "inline"}, "output: expected 'comment' or 'hover'"),
        (["not", "an", "object"], "expected an object of deepthink settings"),
    ],
)
def test_bad_settings_name_their_source_and_key(workspace_values: object, complaint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, None, workspace_values, env={})
    assert str(raised.value).startswith("workspace/configuration (deepthink)")
    assert complaint in str(raised.value)


# --- backend ---------------------------------------------------------------------------------


def test_a_run_without_a_key_for_a_remote_endpoint_says_which_variable_to_set() -> None:
    backend = Backend()
    with pytest.raises(CannotRun, match="not been initialized"):
        backend.acquire()
    provider = {
        "base_url": "https://llm.example.com/v1",
        "api_key_env": "DEEPTHINK_TEST_NO_SUCH_KEY",
    }
    backend.configure(load_settings(None, {"provider": provider}, None, env={}))
    with pytest.raises(
        CannotRun,
        match=r"set DEEPTHINK_TEST_NO_SUCH_KEY \(named by provider.api_key_env\) in the env",
    ):
        backend.acquire()


def test_jobs_share_a_client_until_the_provider_changes() -> None:
    backend = Backend()
    local = {"provider": {"base_url": "http://127.0.0.1:9/v1"}, "cache": {"enabled": False}}
    backend.configure(load_settings(None, local, None, env={}))
    first, second = backend.acquire(), backend.acquire()
    other = {"provider": {"model": "other"}}
    backend.configure(load_settings(None, local, other, env={}))
    third = backend.acquire()
    try:
        assert first.llm is second.llm
        assert third.llm is not first.llm
        assert first.cache is None
    finally:
        for engine in (first, second, third):
            backend.release(engine)
        backend.close()


# --- results ---------------------------------------------------------------------------------


def test_hovers_answer_on_their_lines_newest_first_until_edited_away() -> None:
    store = HoverStore()
    store.put(URI, Anchor(2, ("def f(x):", "    return x")), "old")
    store.put(URI, Anchor(3, ("    return x",)), "new")
    assert store.find(URI, 1) is None
    found = store.find(URI, 3)
    assert found is not None and found.markdown == "new"
    hover = found.hover()
    assert hover.range == types.Range(at(3), at(3, 12))
    text = "# top\n" + CODE
    store.follow(URI, [partial(at(0), at(0), "# top\n")], text)
    moved = store.find(URI, 3)
    assert moved is not None and moved.markdown == "old"
    store.follow(URI, [partial(at(3, 0), at(3, 3), "")], text.replace("def f", " f"))
    assert store.find(URI, 3) is None


def finding(line: int, path: str = "a.py") -> Finding:
    return Finding(path, line, line, Severity.WARNING, f"problem on {line}")


def test_findings_become_diagnostics_on_their_code() -> None:
    lines = split_lines(CODE)
    item = finding_diagnostic(finding(4), lines)
    assert item is not None
    assert item.diagnostic.range == types.Range(at(3, 4), at(3, 12))
    assert item.diagnostic.source == "deepthink"
    assert item.diagnostic.severity == types.DiagnosticSeverity.Warning
    assert finding_diagnostic(finding(99), lines) is None


def test_a_review_replaces_only_its_own_diagnostics_which_follow_edits() -> None:
    lines = split_lines(CODE)
    store = DiagnosticStore()

    def items(*numbers: int) -> list:  # type: ignore[type-arg]
        return [finding_diagnostic(finding(n), lines) for n in numbers]

    assert store.replace(URI, {URI: items(4)}) == {URI}
    assert store.replace("file:///w/b.py", {URI: items(7)}) == {URI}
    assert [d.range.start.line for d in store.diagnostics(URI)] == [3, 6]
    text = "# top\n" + CODE
    assert store.follow(URI, [partial(at(0), at(0), "# top\n")], text)
    assert [d.range.start.line for d in store.diagnostics(URI)] == [4, 7]
    edited = text.replace("    return x", "    yield x")
    assert store.follow(URI, [partial(at(4, 4), at(4, 10), "yield")], edited)  # flagged line
    assert [d.range.start.line for d in store.diagnostics(URI)] == [7]
    assert store.clear("file:///w/b.py") == {URI}
    assert store.diagnostics(URI) == []


# --- progress --------------------------------------------------------------------------------


def agent(index: int, state: AgentState, tokens: int = 0) -> AgentStatus:
    return AgentStatus(index, f"role {index + 1}", "model", state, tokens=tokens)


def test_progress_texts() -> None:
    snapshot = Snapshot(Phase.RUNNING, (agent(0, AgentState.DONE), agent(1, AgentState.RUNNING, 7)))
    assert begin_title(1) == "Deep think: 1 agent"
    assert begin_title(4) == "Deep think: 4 agents"
    assert report_message(snapshot, 8.2) == "1/2 agents · 7 tok · 8 s"
    assert report_details(snapshot) == (
        "running: 1 done, 1 running — role 1: done, role 2: running (7 tokens)"
    )
    many = Snapshot(Phase.SYNTHESISING, tuple(agent(n, AgentState.DONE, 1234) for n in range(16)))
    assert report_message(many, 61) == "16/16 agents · merging · 19.7k tok · 61 s"
    assert report_message(Snapshot(Phase.DECOMPOSING, ()), 0.4) == "planning · 0 s"
    ranking = Snapshot(Phase.RANKING, many.agents)
    assert report_message(ranking, 61) == "16/16 agents · ranking · 19.7k tok · 61 s"
    verifying = Snapshot(Phase.VERIFYING, many.agents)
    assert report_message(verifying, 61) == "16/16 agents · verifying · 19.7k tok · 61 s"
    assert len(report_message(many, 12345)) <= 60
    # A job whose requests all wait behind another job's: why nothing moves, not the tokens.
    queued = dataclasses.replace(many, phase=Phase.RUNNING, waiting=3)
    assert report_message(queued, 61) == "16/16 agents · waiting for the endpoint · 61 s"
    widest = Snapshot(Phase.RUNNING, tuple(agent(n, AgentState.RUNNING, 10**5) for n in range(64)))
    assert len(report_message(dataclasses.replace(widest, waiting=64), 99999)) <= 60
    planning = Snapshot(Phase.DECOMPOSING, (), waiting=1)
    assert report_message(planning, 3) == "waiting for the endpoint · 3 s"
    assert report_message(dataclasses.replace(planning, sending=1), 3) == "planning · 3 s"
    assert report_details(planning) == "decomposing (waiting for the endpoint)"
    answers = [
        AgentResult(0, "r", "q", "m", AgentState.DONE, answer="a"),
        AgentResult(1, "r", "q", "m", AgentState.FAILED, error="boom"),
    ]
    partial_result = RunResult(RunStatus.PARTIAL, "md", agents=answers, seconds=3.2, failures=["x"])
    assert end_message(partial_result) == "partly done in 3 s: 1 of 2 agents answered, 0 tokens"
    priced = RunResult(
        RunStatus.DONE,
        "md",
        agents=answers[:1],
        seconds=2,
        calls=[CallUsage("agent 1 step 1", "m", Usage(1500, 20))],
        phases=[
            PhaseCost("plan", Usage(300, 40), 0.0001),
            PhaseCost("agents", Usage(1200, 2_500_000), 0.25),
        ],
    )
    assert end_message(priced) == (
        "done in 2 s: 1 of 1 agents answered, 1520 tokens "
        "(tokens in/out: plan 300/40, agents 1.2k/2.5M; $0.2501)"
    )
    assert hover_footer(priced) == (
        "\n\n---\n*tokens in/out: plan 300/40, agents 1.2k/2.5M; $0.2501*"
    )
    refuted = Finding("a.py", 5, 5, Severity.ERROR, "b may be 0.")
    reviewed = RunResult(
        RunStatus.DONE,
        "md",
        rejected=[Rejected(refuted, "divide() is only called with b = 2")],
        ranking=[Rank(2, 1.0, 2), Rank(1, 2.0, 2)],
    )
    assert hover_footer(reviewed) == (
        "\n\n---\n**Rejected by the skeptic pass** (not in the problems list):\n"
        "- `a.py:5` b may be 0. — *divide() is only called with b = 2*"
        "\n\n---\n*Peer ranking, best first (average place):* agent 2 (1.0), agent 1 (2.0)"
    )
    grounded = RunResult(
        RunStatus.DONE, "md", failures=["2 findings dropped: the cited code is not in the file"]
    )
    assert hover_footer(grounded) == (
        "\n\n---\n*Warnings:* 2 findings dropped: the cited code is not in the file"
    )
    assert end_message(RunResult(RunStatus.CANCELLED, "")) == "cancelled"
    failed = RunResult(RunStatus.FAILED, "", failures=["the key was rejected"])
    assert end_message(failed) == "failed: the key was rejected"


async def test_progress_reports_state_changes_at_once_and_token_counts_coalesced() -> None:
    loop = asyncio.get_running_loop()
    sent: list[Snapshot] = []
    now = [0.0]
    reporter = ProgressReporter(loop, sent.append, interval=0.1, clock=lambda: now[0])

    def from_worker(snapshot: Snapshot) -> None:
        thread = threading.Thread(target=reporter.on_snapshot, args=(snapshot,))
        thread.start()
        thread.join()

    running = Snapshot(Phase.RUNNING, (agent(0, AgentState.RUNNING),))
    from_worker(running)
    await asyncio.sleep(0.01)
    assert sent == [running]
    for tokens in (1, 2, 3):  # token counts only: held back, then only the latest
        from_worker(Snapshot(Phase.RUNNING, (agent(0, AgentState.RUNNING, tokens),)))
    await asyncio.sleep(0.01)
    assert sent == [running]
    now[0] = 0.2
    await asyncio.sleep(0.15)
    assert [s.agents[0].tokens for s in sent] == [0, 3]
    reporter.close()
    from_worker(Snapshot(Phase.DONE, (agent(0, AgentState.DONE),)))
    await asyncio.sleep(0.01)
    assert len(sent) == 2  # nothing after close


async def test_a_state_change_is_not_held_back_with_a_token_count() -> None:
    sent: list[Snapshot] = []
    reporter = ProgressReporter(asyncio.get_running_loop(), sent.append, interval=0.1)
    running = Snapshot(Phase.RUNNING, (agent(0, AgentState.RUNNING),))
    counted = Snapshot(Phase.RUNNING, (agent(0, AgentState.RUNNING, 5),))
    cancelled = Snapshot(Phase.RUNNING, (agent(0, AgentState.CANCELLED, 5),))
    for snapshot in (running, counted, cancelled):
        thread = threading.Thread(target=reporter.on_snapshot, args=(snapshot,))
        thread.start()
        thread.join()
        await asyncio.sleep(0.01)
    assert sent == [running, cancelled]
    await asyncio.sleep(0.15)
    assert sent == [running, cancelled]  # the held-back count went out with the state change


# --- selections, requests and diffs ----------------------------------------------------------


def test_a_selection_ending_at_column_zero_excludes_that_line() -> None:
    assert selected_lines(types.Range(at(2), at(4))) == (2, 3)
    assert selected_lines(types.Range(at(2), at(2, 5))) == (2, 2)
    assert selected_lines(types.Range(at(4, 3), at(2, 1))) == (2, 4)  # selected upwards


def test_the_innermost_workspace_folder_is_the_root(tmp_path: Path) -> None:
    file = tmp_path / "outer" / "inner" / "a.py"
    folders = [tmp_path / "outer", tmp_path / "outer" / "inner", tmp_path / "other"]
    assert workspace_root(file, folders) == tmp_path / "outer" / "inner"
    assert workspace_root(file, []) == file.parent


def test_requests_carry_the_selection_context_and_question(tmp_path: Path) -> None:
    selection = take_selection(
        URI, tmp_path / "a.py", tmp_path, CODE, "python", types.Range(at(2), at(4))
    )
    ask = build_request(selection, Mode.ASK, None, 1000)
    assert (ask.path, ask.start_line, ask.end_line) == ("a.py", 3, 4)
    assert ask.selection == "def f(x):\n    return x"
    assert ask.question == DEFAULT_QUESTION
    assert "import os" in ask.context
    review = build_request(selection, Mode.REVIEW_DIFF, "ignored", 1000, diff="+x")
    assert (review.selection, review.context, review.question) == ("+x", "", None)


def test_the_diff_compares_the_buffer_with_head(tmp_path: Path) -> None:
    file = tmp_path / "a.py"
    file.write_text(CODE)
    git(tmp_path, "init", "-q")
    new = tmp_path / "new.py"
    assert uncommitted_diff(new, "x = 1\n", "new.py").endswith("\n+x = 1")  # no commit yet
    git(tmp_path, "add", "a.py")
    git(tmp_path, "commit", "-q", "-m", "initial")

    with pytest.raises(NothingToDo, match=r"a\.py has no uncommitted changes"):
        uncommitted_diff(file, CODE, "a.py")
    diff = uncommitted_diff(file, CODE.replace("return x", "return -x"), "a.py")
    assert "--- a/a.py\n+++ b/a.py\n" in diff
    assert "-    return x\n+    return -x" in diff


def test_the_diff_needs_a_git_repository(tmp_path: Path) -> None:
    with pytest.raises(CannotRun, match="is not in a git repository"):
        uncommitted_diff(tmp_path / "a.py", CODE, "a.py")
    with pytest.raises(CannotRun, match="is not in a git repository"):
        workspace_diff(tmp_path)

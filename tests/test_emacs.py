"""Emacs 28 + eglot 1.9 in batch mode with the README's setup drives the real server.

eglot 1.9 declares no work-done progress and waits for `workspace/executeCommand`
synchronously (10 s, then "Timed out"), so the server must answer `deepthink.run` at once.
The editor side is tests/emacs/eglot_test.el.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

from tests.editors import Outcome, emacs_with_eglot, run_editor
from tests.llm_server import Reply, ScriptedLLMServer
from tests.lsp_harness import PROJECT_ROOT, SOURCE, server_env
from tests.scenarios import DECOMPOSE, SYNTHESIS, agent_number, is_agent, plan

SCRIPT = Path(__file__).parent / "emacs" / "eglot_test.el"
README = PROJECT_ROOT / "README.md"
SETUP_HEADING = "### Emacs (eglot)"
SERVER = Path(sys.executable).parent / "deepthink-lsp"
AGENTS = 4  # the server's default; the README's setup does not change it
SYNTHESIS_TEXT = "It divides by zero when b is 0."
ACTIONS = [
    "Deep think: explain",
    "Deep think: review",
    "Deep think: ask…",
    "Deep think: review diff (this file)",
    "Deep think: review diff (workspace)",
]


def readme_setup() -> str:
    """The init-file snippet: the first elisp block under the eglot heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SETUP_HEADING) :]
    start = section.index("```elisp\n") + len("```elisp\n")
    return section[start : section.index("```", start)]


def run_action(tmp_path: Path, llm: ScriptedLLMServer, action: str) -> Outcome:
    """Emacs picks `action` on lines 4-5 of a.py and waits for the comment.

    The agents answer only once Emacs got the command's reply: a server that held the reply
    until the job ended would never get there, and eglot would time out.
    """
    emacs = emacs_with_eglot()
    assert SERVER.exists(), f"{SERVER} is missing: install the package (pip install -e .)"
    command_returned = threading.Event()

    def agent_answer(body: dict[str, Any]) -> Reply:
        command_returned.wait(60)
        return Reply(content=f"It divides by zero. (agent {agent_number(body)})")

    llm.add(DECOMPOSE, Reply(content=plan(AGENTS)))
    llm.add(is_agent, agent_answer)
    llm.add(SYNTHESIS, Reply(content=SYNTHESIS_TEXT))
    project = tmp_path / "project"
    project.mkdir()
    source = project / "a.py"
    source.write_text(SOURCE, encoding="utf-8")
    setup = tmp_path / "setup.el"
    setup.write_text(readme_setup(), encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = server_env(llm, home)  # Emacs passes its environment on to the server
    env.update(
        PATH=f"{SERVER.parent}{os.pathsep}{env['PATH']}",
        DEEPTHINK_TEST_SETUP=str(setup),
        DEEPTHINK_TEST_FILE=str(source),
        DEEPTHINK_TEST_ACTION=action,
        DEEPTHINK_TEST_SYNTHESIS=SYNTHESIS_TEXT,
    )
    work = tmp_path / "emacs"
    work.mkdir()
    try:
        return run_editor(
            [str(emacs), "--batch", "-l", str(SCRIPT)],
            env,
            project,
            work,
            {"returned": command_returned.set},
        )
    finally:
        command_returned.set()  # whatever happened, release the scripted agents


def test_eglot_lists_the_actions_and_explain_answers_at_once_then_the_comment_lands(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    outcome = run_action(tmp_path, llm_server, "Deep think: explain")

    assert outcome.returncode == 0 and outcome.result.get("ok"), outcome.report
    assert outcome.result["titles"] == ACTIONS
    text: str = outcome.result["text"]
    above, code = text.split("def divide(a, b):\n")
    assert SYNTHESIS_TEXT in above.split("\n\n\n")[-1]  # in the comment right above the code
    assert [line for line in text.splitlines() if not line.startswith("#")] == (SOURCE.splitlines())
    assert code.startswith("    return a / b\n")
    assert outcome.result["binding"] == "eglot-code-actions"
    assert outcome.result["cancel"] == "deepthink: cancelled 0 job(s)"
    assert "offered" not in outcome.result


def test_eglot_ask_offers_questions_and_the_one_picked_reaches_the_llm(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    outcome = run_action(tmp_path, llm_server, "Deep think: ask…")

    assert outcome.returncode == 0 and outcome.result.get("ok"), outcome.report
    offered: list[str] = outcome.result["offered"]
    assert len(offered) > 1, offered
    assert any(offered[-1] in request.messages_text for request in llm_server.requests)

"""The API key appears nowhere the user or a log collector can see: not in the server's
DEBUG log, the LSP trace either way, messages, hovers, comments, diagnostics or the caches,
even when the endpoint echoes it back in its error bodies or a model repeats it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.gitrepo import git
from tests.llm_server import Reply, ScriptedLLMServer
from tests.lsp_harness import AGENTS, SOURCE, SYNTHESIS_TEXT, editor, lines_range, wait_until
from tests.scenarios import (
    DECOMPOSE,
    SYNTHESIS,
    agent_number,
    findings_block,
    is_agent,
    plan,
    script_run,
)

KEY = "sk-proj-Dt7Qx2Lw9Rv4Nb6Ks1Hp3Zm8Jc5Yf0"
DIVIDE = lines_range(3, 4, SOURCE)


def second_agent(body: dict[str, Any]) -> bool:
    return is_agent(body) and agent_number(body) == 2


async def test_the_api_key_appears_nowhere(
    tmp_path: Path, llm_server: ScriptedLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pygls")  # the client logs every message it sends
    log_file = tmp_path / "server.log"
    finding = {"path": "a.py", "start_line": 5, "severity": "error", "message": "b may be 0"}
    # A review whose second agent meets an endpoint that echoes the key in its error body.
    llm_server.add(second_agent, Reply(status=400, error_message=f"bad key {KEY}"), times=1)
    llm_server.add(DECOMPOSE, Reply(content=plan(AGENTS)), times=1)
    llm_server.add(is_agent, Reply(content="The divisor may be zero."), times=1)
    # The answer repeats the key, as a prompt injection in the code read could make it.
    answer = f"Risky. Called with {KEY}." + findings_block([finding])
    llm_server.add(SYNTHESIS, Reply(content=answer), times=1)
    hovers: list[types.Hover | None] = []
    replies: list[Any] = []
    async with editor(
        tmp_path, llm_server, env={"DEEPTHINK_API_KEY": KEY}, log_file=log_file
    ) as ed:
        uri = ed.open("a.py", SOURCE)

        replies.append(review := await ed.run(uri, DIVIDE, "review"))
        await ed.progress_end(review["job"])
        await ed.message(f"answered 400: bad key {'*' * 3}")
        await wait_until(lambda: ed.client.diagnostics.get(uri), "the findings")
        await wait_until(lambda: ed.edits, "the comment")
        hovers.append(await ed.hover(uri, ed.text(uri).split("\n").index("def divide(a, b):")))

        # A complete result goes into the cache, and the same request is answered from it.
        script_run(llm_server, AGENTS, synthesis=f"{SYNTHESIS_TEXT} Key: {KEY}")
        area = ed.text(uri).split("\n").index("def area(r):")
        for _ in range(2):
            selection = lines_range(area, area + 1, ed.text(uri))
            replies.append(explain := await ed.run(uri, selection, "explain", output="hover"))
            await ed.progress_end(explain["job"])
        hovers.append(await ed.hover(uri, area))

        # Every request refused, the key echoed back.
        llm_server.clear()
        llm_server.add(None, Reply(status=401, error_message=f"Incorrect API key provided: {KEY}"))
        replies.append(refused := await ed.run(uri, DIVIDE, "ask", question="Why?"))
        await ed.progress_end(refused["job"])
        await ed.message("rejected the API key (401)")

    cache = tmp_path / "home" / ".cache" / "deepthink"  # the result cache
    cache_files = [path for path in cache.rglob("*") if path.is_file()]
    seen_by_the_user = {
        "server log (DEBUG)": log_file.read_text("utf-8", errors="replace"),
        "messages the client sent": caplog.text,
        "window/showMessage": repr(ed.client.messages),
        "window/logMessage": repr(ed.client.log_messages),
        "progress": repr(ed.client.progress_reports),
        "diagnostics": repr(ed.client.diagnostics),
        "hovers": repr(hovers),
        "command replies": repr(replies),
        "edits": repr(ed.edits),
        "document": ed.text(uri),
        "result cache": "".join(
            path.read_bytes().decode("utf-8", errors="replace") for path in cache_files
        ),
    }

    # The key was really in play, and the scene was really recorded.
    assert llm_server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    log = seen_by_the_user["server log (DEBUG)"]
    assert "DEBUG" in log and "Sending data" in log and "Risky." in log
    assert '"command": "deepthink.run"' in caplog.text
    assert "It divides by zero" in seen_by_the_user["result cache"]
    assert "cached result" in repr(hovers[1])
    for where, text in seen_by_the_user.items():
        assert KEY not in text, f"the API key leaked into the {where}"
        assert KEY[8:24] not in text, f"part of the API key leaked into the {where}"


async def test_a_review_diff_leaves_out_the_changes_of_a_tracked_secret_and_says_so(
    tmp_path: Path, llm_server: ScriptedLLMServer
) -> None:
    script_run(llm_server, AGENTS, synthesis="The new guard hides the error.")
    async with editor(tmp_path, llm_server) as ed:
        (ed.root / ".env").write_text(f"API_KEY={KEY}\n")
        uri = ed.open("a.py", SOURCE)
        git(ed.root, "init", "-q")
        git(ed.root, "add", "a.py", ".env")
        git(ed.root, "commit", "-q", "-m", "initial")
        (ed.root / ".env").write_text("API_KEY=sk-proj-rotated\n")
        (ed.root / "a.py").write_text(SOURCE.replace("a / b", "a / b if b else 0.0"))
        env_uri = ed.open(".env", "API_KEY=sk-proj-rotated-again\n", language_id="dotenv")

        workspace = await ed.run(uri, DIVIDE, "review-diff", scope="workspace", output="hover")
        await ed.progress_end(workspace["job"])
        told = await ed.message("reviewed the changes of the workspace")
        result = await ed.command("deepthink.result")
        only_the_secret = await ed.run(env_uri, DIVIDE, "review-diff", output="hover")
        await ed.progress_end(only_the_secret["job"])
        refused = await ed.message("nothing to review")

    sent = "".join(request.messages_text for request in llm_server.requests)
    assert "+    return a / b if b else 0.0" in sent
    assert "sk-proj" not in sent and "API_KEY" not in sent
    why = (
        "left out of the diff: .env may hold secrets (like .env, *.pem, id_rsa); if it is safe "
        "to send to the model, add it to agent.allow_paths in your own config"
    )
    assert told.message.endswith(f"Not reviewed: {why}.")
    assert result["markdown"].endswith(f"*Not reviewed: {why}*")
    assert refused.message == f"nothing to review: {why}"

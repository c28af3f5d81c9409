"""`deepthink eval` end to end: a small suite of our own, the scripted server as the model.

Each scripted model answers a review of a case file with the findings a test chose for that
file, so the scores the command prints can be checked against figures worked out by hand.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli import main
from tests import scenarios
from tests.child_process import LineReader, killed_on_failure, start_deepthink
from tests.llm_server import Body, RecordedRequest, Reply, ScriptedLLMServer, prompt_tokens

SINGLE = "expert engineer answering"  # in prompts.SINGLE_SYSTEM

FILES = {
    "calc.py": (
        "def mean(values):\n"
        "    total = sum(values)\n"
        "    return total / len(values) - 1\n"
        "\n"
        "\n"
        "def spread(values):\n"
        "    return max(values) - min(values)\n"
    ),
    "web/fetch.js": (
        "async function load(url) {\n"
        "  const response = await fetch(url);\n"
        "  const body = response.json();\n"
        "  return body.items;\n"
        "}\n"
        "module.exports = { load };\n"
    ),
    "util.go": (
        "package util\n\nfunc Max(a, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn b\n}\n"
    ),
    "clean.py": "def greet(name):\n    return f'Hello, {name}!'\n",
}
MANIFEST = """\
[[case]]
file = "calc.py"
lines = "3"
code = "/ len(values) - 1"
kind = "wrong operator"
description = "Subtracts 1 from the mean instead of dividing by len - 1."

[[case]]
file = "web/fetch.js"
lines = "3-4"
code = "response.json()"
kind = "async misuse"
description = "response.json() is not awaited, so body is a promise."

[[case]]
file = "util.go"

[[case]]
file = "clean.py"
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    root = tmp_path / "suite"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "suite.toml").write_text(MANIFEST)
    return root


def case_of(body: Body) -> str:
    """Which case file a request reviews, from the code block every prompt carries."""
    text = json.dumps(body["messages"])
    return next(name for name in FILES if f"# Code from {name} " in text)


def finding(path: str, line: int) -> dict[str, Any]:
    return {"path": path, "start_line": line, "end_line": line, "severity": "error", "message": "x"}


Reviews = dict[str, list[dict[str, Any]]]


def script_reviews(llm: ScriptedLLMServer, *, single: Reviews, heavy: Reviews) -> None:
    """Single calls and heavy syntheses answer with the findings chosen for the case."""

    def review(findings: Reviews) -> Callable[[Body], Reply]:
        return lambda body: Reply(
            content="## Review\nSee below." + scenarios.findings_block(findings[case_of(body)])
        )

    llm.add(SINGLE, review(single))
    llm.add(scenarios.DECOMPOSE, Reply(content=scenarios.plan(2)))
    llm.add(scenarios.is_agent, Reply(content="The code looks suspicious at line 3."))
    llm.add(scenarios.SYNTHESIS, review(heavy))


def deepthink_eval(
    capsys: pytest.CaptureFixture[str], suite: Path, *options: str
) -> tuple[int, dict[str, Any], str]:
    code = main(["eval", "--suite", str(suite), "--agents", "2", "--json", *options])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def scores_by_config(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {score["config"]: score for score in report["scores"]}


def reviewed(requests: list[RecordedRequest], marker: str) -> list[str]:
    return sorted(case_of(r.body) for r in requests if marker in r.messages_text)


@pytest.mark.usefixtures("env")
def test_a_model_finding_exactly_the_chosen_defects_scores_as_computed_by_hand(
    llm_server: ScriptedLLMServer, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # single finds calc.py's defect (line 4 is within 2 lines of 3) and misses fetch.js;
    # heavy finds both. Neither says anything about the clean files.
    script_reviews(
        llm_server,
        single={
            "calc.py": [finding("calc.py", 4)],
            "web/fetch.js": [],
            "util.go": [],
            "clean.py": [],
        },
        heavy={
            "calc.py": [finding("calc.py", 3)],
            "web/fetch.js": [finding("web/fetch.js", 3)],
            "util.go": [],
            "clean.py": [],
        },
    )

    code, report, _ = deepthink_eval(capsys, suite, "--configs", "single,heavy")

    assert code == 0
    scores = scores_by_config(report)
    assert list(scores) == ["single", "heavy"]
    single, heavy = scores["single"], scores["heavy"]
    assert single["precision"]["median"] == 1.0  # 1 found, no false positive
    assert single["recall"]["median"] == 0.5  # 1 of 2 defects
    assert single["f1"]["median"] == pytest.approx(2 / 3)
    assert single["missed"] == ["web/fetch.js"]
    assert (heavy["precision"]["median"], heavy["recall"]["median"]) == (1.0, 1.0)
    assert heavy["f1"]["median"] == 1.0 and heavy["missed"] == []
    assert single["trials"] == heavy["trials"] == 4
    # Every case went through each configuration once, and single is one call per case.
    assert reviewed(llm_server.requests, SINGLE) == sorted(FILES)
    assert reviewed(llm_server.requests, scenarios.SYNTHESIS) == sorted(FILES)
    assert len([r for r in llm_server.requests if scenarios.is_agent(r.body)]) == 2 * 4
    # Every trial's raw findings are in the JSON; tokens were counted.
    calc = [t for t in report["trials"] if t["case"] == "calc.py" and t["config"] == "single"]
    assert [f["start_line"] for f in calc[0]["findings"]] == [4]
    assert single["tokens"]["median"] > 0 and heavy["tokens"]["median"] > single["tokens"]["median"]


@pytest.mark.usefixtures("env")
def test_a_model_that_flags_every_clean_file_loses_precision(
    llm_server: ScriptedLLMServer, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    everything = {
        "calc.py": [finding("calc.py", 3)],
        "web/fetch.js": [finding("web/fetch.js", 4)],
        "util.go": [finding("util.go", 4)],
        "clean.py": [finding("clean.py", 2)],
    }
    script_reviews(llm_server, single=everything, heavy=everything)

    code, report, _ = deepthink_eval(capsys, suite, "--configs", "single")

    assert code == 0
    [single] = report["scores"]
    assert single["precision"]["median"] == 0.5  # 2 found, 2 false positives
    assert single["recall"]["median"] == 1.0
    assert single["f1"]["median"] == pytest.approx(2 / 3)
    assert single["clean_flagged"]["median"] == 2
    assert single["false_positives"]["median"] == 2


@pytest.mark.usefixtures("env")
def test_failing_cases_count_as_misses_and_are_listed(
    llm_server: ScriptedLLMServer, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.add(
        lambda body: "web/fetch.js" in case_of(body),
        Reply(status=400, error_message="the model is overloaded"),
    )
    script_reviews(
        llm_server,
        single={"calc.py": [finding("calc.py", 3)], "util.go": [], "clean.py": []},
        heavy={},
    )

    code = main(["eval", "--suite", str(suite), "--configs", "single"])
    out, _ = capsys.readouterr()

    assert code == 0
    assert "single: web/fetch.js #1 failed:" in out and "the model is overloaded" in out
    assert "single: missed web/fetch.js" in out
    rows = dict(re.findall(r"^ +(\S.*?) {2,}(\S.*?) *$", out, re.MULTILINE))
    assert rows["precision"] == "1.00"  # calc.py found, nothing else flagged
    assert rows["recall"] == "0.50"  # fetch.js failed: a miss
    assert rows["F1"] == "0.67"
    assert rows["trials, failed"] == "4, 1"


@pytest.mark.usefixtures("env")
def test_resume_skips_finished_cases(
    llm_server: ScriptedLLMServer, suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    all_found = {name: [finding(name, 3)] if name.endswith(("py", "js")) else [] for name in FILES}
    all_found["clean.py"] = []
    script_reviews(llm_server, single=all_found, heavy=all_found)
    results = tmp_path / "results.jsonl"

    code, first, _ = deepthink_eval(
        capsys,
        suite,
        "--configs",
        "single",
        "--cases",
        "calc.py,util.go",
        "--results",
        str(results),
    )
    assert code == 0 and first["scores"][0]["trials"] == 2
    assert len(results.read_text().splitlines()) == 2
    llm_server.clear()
    script_reviews(llm_server, single=all_found, heavy=all_found)

    code, second, err = deepthink_eval(
        capsys, suite, "--configs", "single", "--results", str(results)
    )

    assert code == 0
    assert "2 trial(s) to run; the others are in" in err
    assert reviewed(llm_server.requests, SINGLE) == ["clean.py", "web/fetch.js"]
    [single] = second["scores"]
    assert single["trials"] == 4 and single["recall"]["median"] == 1.0
    assert len(results.read_text().splitlines()) == 4


@pytest.mark.usefixtures("env")
def test_a_results_file_from_another_model_is_not_mixed_in(
    llm_server: ScriptedLLMServer, suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_reviews(llm_server, single={name: [] for name in FILES}, heavy={})
    results = tmp_path / "results.jsonl"
    deepthink_eval(
        capsys, suite, "--configs", "single", "--cases", "calc.py", "--results", str(results)
    )

    code, _, err = deepthink_eval(
        capsys, suite, "--configs", "single", "--model", "gpt-4o", "--results", str(results)
    )

    assert code == 2
    assert "its single trials ran with model 'gpt-4o-mini'" in err


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--configs", "single,heavy+verify"], "unknown configuration 'heavy+verify' (available"),
        (["--configs", "council"], "council needs council.models in your config"),
        (["--cases", "rust/*"], "--cases: no case matches rust/*"),
        (["--repeat", "0"], "--repeat: expected 1 or more, got 0"),
        (["--suite", "/nonexistent"], "/nonexistent: no suite.toml"),
        (["--results", "/nonexistent/results.jsonl"], "cannot write it: No such file"),
    ],
)
def test_unusable_options_are_usage_errors(
    suite: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    arguments = ["eval", "--suite", str(suite), *options]
    code = main(arguments)

    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.usefixtures("env")
def test_plot_without_matplotlib_says_how_to_get_it(
    llm_server: ScriptedLLMServer, suite: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        installed = False
    else:
        installed = True
    script_reviews(llm_server, single={name: [] for name in FILES}, heavy={})
    picture = tmp_path / "f1.png"

    code, _, err = deepthink_eval(capsys, suite, "--configs", "single", "--plot", str(picture))

    assert code == 0
    if installed:
        assert picture.read_bytes().startswith(b"\x89PNG")
    else:
        assert "--plot needs matplotlib: pip install 'deepthink-lsp[plot]'" in err
        assert not picture.exists()


def test_ctrl_c_keeps_the_finished_cases_and_a_rerun_finishes_the_rest(
    llm_server: ScriptedLLMServer,
    env: dict[str, str],
    suite: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    llm_server.add(
        lambda body: SINGLE in json.dumps(body["messages"]) and case_of(body) == "web/fetch.js",
        Reply(content="too late", delay=60),
        times=1,
    )
    script_reviews(llm_server, single={name: [] for name in FILES}, heavy={})
    results = tmp_path / "results.jsonl"
    command = ["eval", "--suite", str(suite), "--configs", "single", "--results", str(results)]
    process = start_deepthink([*command, "--parallel-cases", "1"], tmp_path, env)
    assert process.stdout is not None and process.stderr is not None
    with killed_on_failure(process):
        stderr = LineReader(process.stderr)
        stderr.wait_for("eval: single calc.py #1: missed the defect")
        llm_server.wait_for_requests(2)  # fetch.js is waiting for its answer

        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        stdout = process.stdout.read()

    assert code == 130
    assert "cancelled after 1 of 4 trial(s); run again with --results" in stderr.rest()
    assert "single" in stdout  # the table of what finished
    assert [json.loads(line)["case"] for line in results.read_text().splitlines()] == ["calc.py"]
    assert [r.aborted for r in llm_server.wait_settled() if case_of(r.body) == "web/fetch.js"] == [
        True
    ]
    before = len(llm_server.requests)

    assert main([*command, "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["scores"][0]["trials"] == 4
    assert reviewed(llm_server.requests[before:], SINGLE) == ["clean.py", "util.go", "web/fetch.js"]


@pytest.mark.usefixtures("env")
def test_a_run_where_every_trial_fails_exits_one_and_says_why(
    llm_server: ScriptedLLMServer, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.add(None, Reply(status=401, error_message="invalid key"))

    code = main(["eval", "--suite", str(suite), "--configs", "single,heavy", "--agents", "2"])
    out, err = capsys.readouterr()

    assert code == 1
    assert "eval: every trial failed" in err
    failed = [line for line in out.splitlines() if " failed: " in line]
    assert len(failed) == 8  # 4 cases, 2 configurations
    assert all("rejected the API key (401)" in line for line in failed)
    assert "test-key" not in out + err


@pytest.mark.usefixtures("env")
def test_repeats_give_the_spread(
    llm_server: ScriptedLLMServer, suite: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fetch.js's defect is found on its first review only; calc.py's every time.
    reviews_of_fetch: list[Body] = []

    def review(body: Body) -> Reply:
        case = case_of(body)
        if case == "web/fetch.js":
            reviews_of_fetch.append(body)
        found = case == "calc.py" or (case == "web/fetch.js" and len(reviews_of_fetch) == 1)
        findings = [finding(case, 3)] if found else []
        return Reply(content="## Review" + scenarios.findings_block(findings))

    llm_server.add(SINGLE, review)

    code, report, _ = deepthink_eval(
        capsys, suite, "--configs", "single", "--repeat", "2", "--parallel-cases", "1"
    )

    assert code == 0
    [single] = report["scores"]
    assert [r["recall"] for r in single["repeats"]] == [1.0, 0.5]
    assert single["recall"] == {"low": 0.5, "median": 0.75, "high": 1.0}
    assert single["trials"] == 8 and len(reviews_of_fetch) == 2


@pytest.mark.usefixtures("env")
def test_single_fits_a_known_context_window_as_the_engine_does(
    llm_server: ScriptedLLMServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "long"
    root.mkdir()
    (root / "long.py").write_text("".join(f"VALUE_{n} = {n} * 1000\n" for n in range(400)))
    (root / "suite.toml").write_text('[[case]]\nfile = "long.py"\n')
    (tmp_path / "small.yaml").write_text("provider:\n  context_window: 1024\n")
    llm_server.add(SINGLE, Reply(content="## Review\nFine." + scenarios.findings_block([])))

    code = main(
        [
            "eval",
            "--suite",
            str(root),
            "--configs",
            "single",
            "--config",
            str(tmp_path / "small.yaml"),
        ]
    )

    assert code == 0, capsys.readouterr().err
    [request] = llm_server.requests
    assert request.body["max_tokens"] == 256  # a quarter of the window
    assert prompt_tokens(request.body) + request.body["max_tokens"] <= 1024
    assert "VALUE_0 = 0" in request.messages_text  # the start of the file is kept

"""The review suites of `deepthink eval`: the built-in one is well-formed, users' are checked."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from orchestrator.eval.cases import SuiteError, load_suite

# A seeded defect of each case, as a reviewer would point at it: the line holding this text
# must lie within the case's expected lines. Written apart from the manifest so that a
# manifest edit that moves a range off its defect is caught.
SEEDED = {
    "python/pagination.py": "rows[start : end + 1]",
    "python/version_check.py": "match.groups()",
    "python/user_store.py": "LIKE '%{fragment}%'",
    "python/log_scan.py": "return line.rstrip",
    "python/tagging.py": "extra: list[str] = []",
    "python/metrics.py": "self._values[name] += by",
    "python/access_window.py": "and moment < self.end",
    "python/timestamps.py": "utcnow().timestamp()",
    "python/git_tools.py": "shell=True",
    "js/debounce.js": "timer = setTimeout(",
    "js/import_contacts.js": "forEach(async",
    "js/leaderboard.js": ".sort().reverse()",
    "js/static_server.js": "path.join(root, pathname)",
    "ts/inventory.ts": "if (!item.quantity)",
    "ts/responseCache.ts": "capacity - 1",
    "ts/eventBus.ts": "list.filter(",
    "go/fetch_all.go": "wg.Add(1)",
    "go/checksum.go": "defer f.Close()",
    "go/session_store.go": "delete(s.sessions, id)",
    "go/upload_handler.go": "only PNG and JPEG",
    "go/word_count.go": "c.words[strings.ToLower(word)]++",
    "rust/ring_buffer.rs": "self.next > self.slots.len()",
    "rust/listen_addr.rs": ".parse().unwrap()",
    "java/AccountService.java": "== requestedPlan",
    "java/ReportWriter.java": "out.close()",
    "java/ConnectionRegistry.java": "connections.put(host, opened)",
}


def test_the_builtin_suite_has_defects_and_clean_files_in_five_languages() -> None:
    suite = load_suite()

    defects = [case for case in suite.cases if not case.clean]
    clean = [case for case in suite.cases if case.clean]
    assert len(defects) >= 25 and len(clean) >= 15
    assert {case.id for case in defects} == set(SEEDED)
    languages = Counter(Path(case.id).suffix for case in suite.cases)
    assert set(languages) == {".py", ".js", ".ts", ".go", ".rs", ".java"}
    for case in suite.cases:
        assert 30 <= len(case.text.splitlines()) <= 80, case.id


@pytest.mark.parametrize("case_id", sorted(SEEDED))
def test_each_seeded_defect_lies_in_its_expected_lines(case_id: str) -> None:
    case = next(case for case in load_suite().cases if case.id == case_id)

    assert case.defect is not None
    assert case.defect.description.strip() and case.defect.kind.strip()
    lines = case.text.splitlines()
    holding = [n for n, line in enumerate(lines, 1) if SEEDED[case_id] in line]
    assert len(holding) == 1, f"{case_id}: {SEEDED[case_id]!r} is on lines {holding}"
    assert case.defect.start_line <= holding[0] <= case.defect.end_line
    # A range is where the defect is, not the whole file.
    assert case.defect.end_line - case.defect.start_line <= 10


def test_the_clean_files_have_no_sign_of_a_seeded_defect() -> None:
    for case in load_suite().cases:
        if case.clean:
            assert "BUG" not in case.text and "FIXME" not in case.text, case.id


def write_suite(root: Path, manifest: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "suite.toml").write_text(manifest)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_user_suite_loads_and_selects_cases_by_glob(tmp_path: Path) -> None:
    root = write_suite(
        tmp_path / "mine",
        '[[case]]\nfile = "src/a.py"\nlines = "2"\ncode = "a / b"\nkind = "zero"\n'
        'description = "b may be 0"\n\n[[case]]\nfile = "src/b.py"\n',
        {"src/a.py": "def f(a, b):\n    return a / b\n", "src/b.py": "X = 1\n"},
    )

    suite = load_suite(root)

    assert [case.id for case in suite.cases] == ["src/a.py", "src/b.py"]
    defect = suite.cases[0].defect
    assert defect is not None and (defect.start_line, defect.end_line) == (2, 2)
    assert suite.cases[1].clean
    assert [case.id for case in suite.select(["*/b.py"]).cases] == ["src/b.py"]
    with pytest.raises(SuiteError, match=r"--cases: no case matches go/\*"):
        suite.select(["go/*"])


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        (
            '[[case]]\nfile = "a.py"\nlines = "9"\ncode = "x"\nkind = "k"\ndescription = "d"\n',
            r"a.py: lines: 9-9 runs past the end \(2 lines\)",
        ),
        (
            '[[case]]\nfile = "a.py"\nlines = "1"\ncode = "a / b"\nkind = "k"\ndescription = "d"\n',
            r"a.py: code: 'a / b' is not on lines 1-1",
        ),
        (
            '[[case]]\nfile = "a.py"\nlines = "two"\ncode = "x"\nkind = "k"\ndescription = "d"\n',
            r'a.py: lines: expected "N" or "N-M", got \'two\'',
        ),
        (
            '[[case]]\nfile = "a.py"\nlines = "2"\ncode = "a / b"\nkind = "k"\n',
            r"a.py: description: expected a non-empty string",
        ),
        ('[[case]]\nfile = "a.py"\nline = "2"\n', r"case 1: unknown key line \(known keys: code,"),
        ('[[case]]\nfile = "a.py"\ncode = "a"\n', r"a.py: code: only a case with `lines`"),
        ('[[case]]\nfile = "nope.py"\n', r"nope.py: file: no such file"),
        ('[[case]]\nfile = "../a.py"\n', r"file: outside the suite folder"),
        ('[[case]]\nfile = "a.py"\n[[case]]\nfile = "a.py"\n', r"a.py: listed twice"),
        ("[[case]\n", r"suite.toml: not valid TOML"),
        ("title = 'x'\n", r"expected one or more \[\[case\]\] tables"),
    ],
)
def test_a_malformed_suite_names_the_file_the_case_and_the_key(
    tmp_path: Path, manifest: str, problem: str
) -> None:
    (tmp_path / "a.py").write_text("def f(a, b):\n    return a / b\n")
    root = write_suite(tmp_path / "suite", manifest, {"a.py": "def f(a, b):\n    return a / b\n"})

    with pytest.raises(SuiteError, match=problem):
        load_suite(root)


def test_a_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"no suite\.toml"):
        load_suite(tmp_path)

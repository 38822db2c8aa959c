"""Heuristic classifiers, speech acts, taxonomy and the diff parser on hand-written inputs."""

from __future__ import annotations

from parley.cooperbench.diffs import parse_patch, python_function_spans, touched_functions
from parley.cooperbench.heuristics import placeholder_misuse, repetition, unresponsiveness, work_overlap
from parley.cooperbench.speech_acts import classify_acts, primary_act
from parley.cooperbench.taxonomy import classify_communication, communication_errors, group_labels
from parley.cooperbench.types import AgentMessage, AgentRun, RunRecord

from .conftest import TASK_DIR

BASE = (TASK_DIR.parents[2] / "repo_src" / "calc.py").read_text()


def _rec(messages: list[tuple[str, str]] = (), patches: tuple[str | None, str | None] = (None, None)) -> RunRecord:  # type: ignore[assignment]
    return RunRecord(
        repo="demo_task",
        task_id=1,
        features=(1, 2),
        setting="coop-comm",
        agents=[
            AgentRun(agent_id="agent1", features=[1], patch=patches[0]),
            AgentRun(agent_id="agent2", features=[2], patch=patches[1]),
        ],
        messages=[AgentMessage(sender=s, text=t) for s, t in messages],
    )


def _patch(n: int) -> str:
    return (TASK_DIR / f"feature{n}" / "feature.patch").read_text()


def test_speech_acts_handle_let_me_know_and_contractions() -> None:
    assert "plan" not in classify_acts("Let me know if you need anything else.")
    assert primary_act("Let me know if you are touching utils.py") == "question"
    assert primary_act("I'm modifying calc.py to add rounding.") == "plan"
    assert primary_act("I\u2019m modifying calc.py") == "plan"
    assert primary_act("I'll add a helper.") == "plan"
    assert primary_act("Let me check the tests first.") == "plan"
    assert primary_act("Which file are you editing?") == "question"
    assert primary_act("I've added the function and it's done.") == "update"
    assert primary_act("Thanks, sounds good.") == "other"
    assert primary_act("I'm not sure.") == "other"


def test_taxonomy_codes_on_hand_written_transcripts() -> None:
    agents = ["agent1", "agent2"]
    msgs = [
        AgentMessage(sender="agent1", text="Which function in calc.py will you change?"),
        AgentMessage(sender="agent2", text="Are you adding tests too?"),
        AgentMessage(sender="agent1", text="Not sure, maybe."),
        AgentMessage(sender="agent2", text="I added scale_all to calc.py already."),
        AgentMessage(sender="agent1", text="Actually I do not see scale_all in calc.py."),
        AgentMessage(sender="agent2", text="I will edit add in calc.py and keep describe unchanged for you."),
        AgentMessage(sender="agent2", text="I will edit add in calc.py and keep describe unchanged for you!"),
        AgentMessage(sender="agent2", text="Reminder: I will edit add in calc.py, keeping describe unchanged."),
        AgentMessage(sender="agent1", text="Can you confirm the return type of describe?"),
    ]
    found = communication_errors(msgs, agents)
    assert found["C1b"], found  # agent1's first question is answered by an unrelated question
    assert found["C2"]  # "Not sure, maybe." answers agent2's question vaguely
    assert found["C3b"]  # the claim about scale_all is corrected
    assert found["C4b"]  # near-duplicate block
    assert found["C4a"]  # same information restated
    assert found["C1a"]  # last question never answered
    assert set(group_labels([c for c, v in found.items() if v])) == {"Repetition", "Unresponsiveness", "Hallucination"}


def test_classifiers_without_messages_say_not_run() -> None:
    rec = _rec()
    for finding in (classify_communication(rec), repetition(rec), unresponsiveness(rec)):
        assert finding.status == "not_run" and "empty conversation" in finding.reason
    answered = _rec([("agent1", "Which file do you edit?"), ("agent2", "I edit calc.py, the add function.")])
    assert unresponsiveness(answered).status == "not_detected"


def test_work_overlap_detects_edits_inside_the_same_function() -> None:
    rec = _rec(patches=(_patch(1), _patch(2)))
    finding = work_overlap(rec, {"calc.py": BASE})
    assert finding.status == "detected"
    assert "function" in finding.labels and any("add" in e for e in finding.evidence)
    apart = work_overlap(_rec(patches=(_patch(1), _patch(3))), {"calc.py": BASE})
    assert apart.status == "not_detected" and apart.labels == ["file"]
    assert work_overlap(_rec()).status == "not_run"


def test_ast_spans_make_body_edits_count() -> None:
    spans = {s.name: (s.start, s.end) for s in python_function_spans(BASE)}
    assert spans["add"] == (4, 6)
    diff = parse_patch(_patch(1)).files[0]
    # The hunk header carries no function name; only the ast spans reveal that add() is edited.
    assert touched_functions(diff) == set()
    assert touched_functions(diff, BASE) == {"add"}


def test_placeholder_misuse_and_its_false_positive_filters() -> None:
    def patch(path: str, added: list[str]) -> str:
        body = "".join(f"+{line}\n" for line in added)
        return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1,0 +1,{len(added)} @@\n{body}"

    stub = patch("pkg/feature.py", ["def parse(x):", "    raise NotImplementedError"])
    assert placeholder_misuse(_rec(patches=(stub, None))).status == "detected"
    todo = patch("pkg/feature.py", ["def parse(x):", "    pass  # TODO implement"])
    assert placeholder_misuse(_rec(patches=(todo, None))).status == "detected"
    benign = [
        patch(
            "pkg/base.py",
            ["class Base(ABC):", "    @abstractmethod", "    def run(self):", "        raise NotImplementedError"],
        ),
        patch("pkg/proto.py", ["class Reader(Protocol):", "    def read(self) -> str:", "        ..."]),
        patch("pkg/forms.py", ['field = TextInput(placeholder="Your name")', "x: tuple[int, ...] = (1,)"]),
        patch("tests/test_feature.py", ["def test_x():", "    raise NotImplementedError"]),
        patch("pkg/stubs.pyi", ["def f() -> int: ..."]),
    ]
    for text in benign:
        assert placeholder_misuse(_rec(patches=(text, None))).status == "not_detected", text
    assert placeholder_misuse(_rec()).status == "not_run"


def test_diff_parser_bad_inputs() -> None:
    assert parse_patch("").problems == ["empty patch"]
    assert "not a unified diff" in parse_patch("hello\nworld\n").problems[0]
    binary = "diff --git a/img.png b/img.png\nindex 1..2 100644\nGIT binary patch\nliteral 5\nxyz\n"
    parsed = parse_patch(binary)
    assert parsed.files[0].binary and any("binary" in p for p in parsed.problems)
    crlf = _patch(1).replace("\n", "\r\n")
    assert parse_patch(crlf).files[0].hunks[0].added == parse_patch(_patch(1)).files[0].hunks[0].added
    uni = "diff --git a/é.py b/é.py\n--- a/é.py\n+++ b/é.py\n@@ -1 +1 @@\n-x = 'ü'\n+x = '日本'\n"
    assert parse_patch(uni).files[0].hunks[0].added == ["x = '日本'"]
    truncated = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,3 @@\n x\n"
    assert any("missing" in p for p in parse_patch(truncated).problems)


def test_fifty_thousand_line_diff() -> None:
    n = 50_000
    body = "".join(f"+v{i} = {i}\n" for i in range(n))
    big = f"diff --git a/big.py b/big.py\n--- /dev/null\n+++ b/big.py\n@@ -0,0 +1,{n} @@\n{body}"
    parsed = parse_patch(big)
    assert not parsed.problems and len(parsed.files[0].added_lines) == n
    assert work_overlap(_rec(patches=(big, _patch(1)))).status == "not_detected"

"""Scoring against a labels file (voicebot recognize --expected): parsing, judging, the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.actions import Listen
from voicebot.asr.reference import Label, Scoreboard, judge, listen_for, read_labels, word_errors


def label(expected: str, kind: str = "k") -> Label:
    return Label(Path("a.wav"), expected, kind, 1)


def test_labels_are_tab_separated_relative_to_their_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text("# file\texpected\tkind\n\npin.wav\t4417\t4-digit\n/abs/menu.wav\tcheck_balance\tintent\n")
    rows = read_labels(path)
    assert [(r.path, r.expected, r.kind, r.line) for r in rows] == [
        (tmp_path / "pin.wav", "4417", "4-digit", 3), (Path("/abs/menu.wav"), "check_balance", "intent", 4)]
    path.write_text("pin.wav\t4417\n")
    with pytest.raises(ValueError, match=r"labels.tsv:1: expected file<TAB>expected<TAB>kind"):
        read_labels(path)


def test_how_each_kind_is_judged() -> None:
    assert judge(label("4417"), "my pin is four four one seven", None, {"pin": "4417"}).correct
    wrong = judge(label("4417"), "four four one one", None, {"pin": "4411"})
    assert not wrong.correct and wrong.accepted
    assert judge(label("yes"), "yeah", None, {"value": True}).correct
    assert not judge(label("no"), "yeah", None, {"value": True}).correct
    assert judge(label("check_balance"), "balance", "check_balance", {}).correct
    assert not judge(label("check_balance"), "agent", "speak_to_agent", {}).correct
    assert judge(label("-"), "", None, {}).correct
    leak = judge(label("-"), "agent", "speak_to_agent", {})
    assert not leak.correct and leak.accepted
    assert judge(label("what a nice day"), "what a nice day", None, {"value": "what a nice day"}).correct


def test_scoreboard_counts_matches_rejections_false_accepts_and_errors() -> None:
    board = Scoreboard()
    board.add(label("4417", "pin"), judge(label("4417"), "four four one seven", None, {"pin": "4417"}))
    board.add(label("4417", "pin"), judge(label("4417"), "four four one one", None, {"pin": "4411"}))
    board.add(label("4417", "pin"), judge(label("4417"), "", None, {}))
    board.add(label("4417", "pin"), None)
    board.add(label("-", "reject"), judge(label("-"), "agent", "speak_to_agent", {}))
    summary = board.summary()
    assert summary["kinds"]["pin"] == {"total": 4, "correct": 1, "exact_match": 0.25, "rejected": 1,
                                       "false_accepts": 1, "errors": 1}
    assert summary["false_accepts"] == 2 and summary["false_accept_rate"] == 0.4
    # 16 reference words: one substitution, four deletions (nothing heard), four for the unreadable file.
    assert summary["word_error_rate"] == round(9 / 16, 4)
    assert any("false accepts 2/5" in line for line in board.table())


def test_word_errors_and_digit_spelling() -> None:
    assert word_errors(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert label("0912").reference_words() == ["zero", "nine", "one", "two"]
    assert label("check_balance").reference_words() == []
    board = Scoreboard()
    board.add(label("0912"), judge(label("0912"), "my pin is oh nine one two", None, {"pin": "0912"}))
    assert board.summary()["word_error_rate"] == 0.0


def test_without_a_flow_rows_are_heard_by_their_expected_answer() -> None:
    fallback = Listen(node="builtin:digits", slot_type="digits")
    pin = listen_for(label("4417"), fallback)
    assert pin is not None and (pin.slot_type, pin.min_digits, pin.max_digits) == ("digits", 4, 4)
    answer = listen_for(label("no"), fallback)
    assert answer is not None and answer.slot_type == "yes_no"
    assert listen_for(label("-"), fallback) is fallback
    assert listen_for(label("check_balance"), fallback) is None
    free = listen_for(label("good morning"), fallback)
    assert free is not None and free.slot_type == "phrase"

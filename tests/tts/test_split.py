"""Sentence splitting: boundaries where a reader would stop, none inside abbreviations or numbers."""

from __future__ import annotations

import pytest

from voicebot.tts.base import split_clauses, split_sentences

CASES = [
    ("Hello. How are you?", ["Hello.", "How are you?"]),
    ("Welcome back, Alice. How can I help you today?", ["Welcome back, Alice.", "How can I help you today?"]),
    ("Mr. Smith owes $2.50 today. Pay now!", ["Mr. Smith owes $2.50 today.", "Pay now!"]),
    ("Mrs. Diaz and Dr. Okafor are here.", ["Mrs. Diaz and Dr. Okafor are here."]),
    ("Bring fruit, e.g. apples. Or not.", ["Bring fruit, e.g. apples.", "Or not."]),
    ("Say a word, i.e. Balance. Thanks.", ["Say a word, i.e. Balance.", "Thanks."]),
    ("Your rate is 2.50 percent. That is 3.5 points.", ["Your rate is 2.50 percent.", "That is 3.5 points."]),
    ("We ship to the U.S. and Canada.", ["We ship to the U.S. and Canada."]),
    ("The U.S. Army called. Call back.", ["The U.S. Army called.", "Call back."]),
    ("We open at 9 a.m. Call us then.", ["We open at 9 a.m.", "Call us then."]),
    ("We open at 9 a.m. tomorrow.", ["We open at 9 a.m. tomorrow."]),
    ("Pens, paper, etc. Bring them.", ["Pens, paper, etc.", "Bring them."]),
    ("I said no. Thanks.", ["I said no.", "Thanks."]),
    ("Go to room No. 5 now.", ["Go to room No. 5 now."]),
    ("John F. Kennedy spoke. Yes!", ["John F. Kennedy spoke.", "Yes!"]),
    ('He said "stop." Then he left.', ['He said "stop."', "Then he left."]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ("Wait... What?", ["Wait...", "What?"]),
    ("Version 2.0 is out. 3 updates follow.", ["Version 2.0 is out.", "3 updates follow."]),
    ("Press 1. Press 2.", ["Press 1.", "Press 2."]),
    ("First paragraph\n\nSecond paragraph", ["First paragraph", "Second paragraph"]),
    ("One sentence across\n  two lines.", ["One sentence across\n  two lines."]),
    ("No final punctuation", ["No final punctuation"]),
    ("  Padded.  ", ["Padded."]),
    ("", []),
    ("   \n ", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_loses_no_text() -> None:
    text = "Mr. Smith paid $2.50 on Jan. 5. Then he left! Did he? Yes, e.g. today."
    assert "".join(split_sentences(text)).replace(" ", "") == text.replace(" ", "")


CLAUSE_CASES = [
    # long, with a comma where both sides are long enough: cut as early as possible
    ("For your checking account ending in zero nine two three, the balance is two thousand three hundred "
     "forty-five dollars and sixty-seven cents.",
     ["For your checking account ending in zero nine two three,",
      "the balance is two thousand three hundred forty-five dollars and sixty-seven cents."]),
    # short sentences are never cut, commas or not
    ("Welcome back to Open Bank, Alice.", ["Welcome back to Open Bank, Alice."]),
    # a long sentence without a clause boundary stays whole
    ("Your checking account ending in zero nine two three has a balance of two thousand dollars.",
     ["Your checking account ending in zero nine two three has a balance of two thousand dollars."]),
    # a comma with too few words before it is skipped for the next one
    ("Alice, your savings account ending in four five six seven, opened in May, has a balance of ten dollars.",
     ["Alice, your savings account ending in four five six seven,", "opened in May, has a balance of ten dollars."]),
    # semicolons and colons cut too; a decimal comma does not ("1,250")
    ("We received your payment of 1,250 dollars today; it will show on your statement within two business days.",
     ["We received your payment of 1,250 dollars today;", "it will show on your statement within two business days."]),
    # the last clause keeps its minimum: no three-word tail
    ("Your card ending in four four one seven is now blocked for your safety, thank you.",
     ["Your card ending in four four one seven is now blocked for your safety, thank you."]),
]


@pytest.mark.parametrize(("sentence", "expected"), CLAUSE_CASES)
def test_long_sentences_are_cut_into_clauses_where_a_speaker_pauses(sentence: str, expected: list[str]) -> None:
    assert split_clauses(sentence) == expected
    assert " ".join(split_clauses(sentence)) == sentence  # nothing lost or added

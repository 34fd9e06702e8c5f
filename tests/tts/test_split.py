"""Sentence splitting: boundaries where a reader would stop, none inside abbreviations or numbers."""

from __future__ import annotations

import pytest

from voicebot.tts.base import split_sentences

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

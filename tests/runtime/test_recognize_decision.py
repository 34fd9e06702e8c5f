"""What ``voicebot recognize --flow --node`` says about one recognition: the intent scores against the
threshold a match needs, and what the node does with it (accept, confirm, ask again, a command acted on or
confirmed, no match), by the engine's own rules. A scripted recognizer gives the text and confidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicebot.asr.base import RecognitionResult
from voicebot.asr.fake import FakeRecognizer
from voicebot.audio.pcm import write_wav
from voicebot.config import load_config
from voicebot.events import Hypothesis
from voicebot.flow.compile import CompiledFlow
from voicebot.nlu.matcher import DEFAULT_THRESHOLD
from voicebot.runtime.app import load_flow_with
from voicebot.runtime.speech import node_listen, phrases_by_intent, recognize_file
from voicebot.services.registry import default_registry

BANKING = Path(__file__).resolve().parents[2] / "flows" / "banking.yaml"


@pytest.fixture(scope="module")
def banking() -> CompiledFlow:
    return load_flow_with(BANKING, load_config(env={}), default_registry())


def _recognize(tmp_path: Path, flow: CompiledFlow, node: str, text: str, confidence: float) -> dict[str, Any]:
    wav = tmp_path / "utterance.wav"
    write_wav(wav, np.zeros(8000, dtype=np.int16), 8000)  # the scripted recognizer does not listen
    heard = RecognitionResult(text, confidence, (Hypothesis(text, confidence),) if text else ())
    flow_name, node_id, listen = node_listen(flow, node)
    found = recognize_file(wav, FakeRecognizer([heard]), listen, phrases_by_intent(flow), flow, flow_name, node_id)
    return found.as_json()


def test_a_menu_answer_is_scored_and_accepted_or_confirmed(tmp_path: Path, banking: CompiledFlow) -> None:
    sure = _recognize(tmp_path, banking, "main_menu", "balance", 0.9)
    assert sure["intent"] == "check_balance" and sure["decision"] == "accept"
    assert sure["intent_scores"][0] == {"intent": "check_balance", "score": 1.0}
    assert len(sure["intent_scores"]) == 3 and sure["intent_scores"][1]["score"] < DEFAULT_THRESHOLD
    assert (sure["intent_threshold"], sure["confirm_threshold"]) == (DEFAULT_THRESHOLD, 0.5)
    faint = _recognize(tmp_path, banking, "main_menu", "balance", 0.3)
    assert faint["intent"] == "check_balance" and faint["decision"] == "confirm"  # "I heard balance. Right?"


def test_no_match_shows_how_far_below_the_threshold(tmp_path: Path, banking: CompiledFlow) -> None:
    found = _recognize(tmp_path, banking, "main_menu", "what is the weather like in paris", 0.95)
    assert found["intent"] is None and found["decision"] == "no match"
    assert found["intent_scores"] and all(s["score"] < found["intent_threshold"] for s in found["intent_scores"])


def test_a_goto_command_heard_faintly_is_confirmed(tmp_path: Path, banking: CompiledFlow) -> None:
    sure = _recognize(tmp_path, banking, "main_menu", "goodbye", 0.9)
    assert (sure["intent"], sure["command_action"], sure["decision"]) == ("goodbye", "act", "act")
    faint = _recognize(tmp_path, banking, "main_menu", "goodbye", 0.4)
    assert (faint["command_action"], faint["decision"]) == ("confirm", "confirm")


def test_a_pin_below_the_threshold_is_asked_again_not_read_back(tmp_path: Path, banking: CompiledFlow) -> None:
    sure = _recognize(tmp_path, banking, "authenticate.ask_pin", "four four one seven", 0.9)
    assert sure["slots"] == {"pin": "4417"} and sure["decision"] == "accept"
    # The PIN node listens for the root flow's commands too: their scores for the digits are shown.
    assert sure["intent_threshold"] == DEFAULT_THRESHOLD and sure["intent_scores"]
    assert all(s["score"] < DEFAULT_THRESHOLD for s in sure["intent_scores"])
    faint = _recognize(tmp_path, banking, "authenticate.ask_pin", "four four one seven", 0.3)
    assert faint["slots"] == {"pin": "4417"} and faint["decision"] == "ask again"


def test_the_decision_agrees_with_the_menu_matcher(tmp_path: Path, banking: CompiledFlow) -> None:
    """A match exactly when the best score reaches the threshold (one rule for the engine and the tool)."""
    for text in ("balance", "my card was stolen", "transactions please", "pizza", "speak to a person"):
        found = _recognize(tmp_path, banking, "main_menu", text, 0.9)
        best = found["intent_scores"][0]
        assert (found["intent"] is not None) == (best["score"] >= found["intent_threshold"]), found
        if found["intent"] is not None:
            assert found["intent"] == best["intent"]

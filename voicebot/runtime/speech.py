"""Speech wiring: the recognizer, the prompt voice and cache, and recognizing audio as a node would."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from voicebot.actions import Listen
from voicebot.asr.base import GrammarSpec, PreparingRecognizer, RecognitionResult, Recognizer
from voicebot.audio.endpointer import EndpointerConfig, FrameEndpointer, SpeechEnded, SpeechStarted
from voicebot.audio.pcm import ASR_RATE, PHONE_RATE, Pcm, split_frames
from voicebot.audio.resample import resample
from voicebot.audio.vad import WebRtcVad
from voicebot.config import Config
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.engine import listen_at, listens_of
from voicebot.flow.interpret import (
    Commands,
    Filled,
    command_action,
    intent_matching,
    interpret_speech,
    needs_confirmation,
)
from voicebot.flow.schema import AskNode, MenuNode
from voicebot.storage.calls import to_jsonable
from voicebot.storage.db import data_dir
from voicebot.tts.cache import PromptCache

log = logging.getLogger("voicebot.speech")


def make_recognizer(config: Config, engine: str | None = None) -> Recognizer:
    from voicebot.asr.select import choose_engine

    return choose_engine(engine or config.asr_engine, config.vosk_model)  # type: ignore[arg-type]


def make_prompt_cache(config: Config, directory: Path | None = None) -> PromptCache:
    from voicebot.tts.piper_engine import PiperSynthesizer

    return PromptCache(directory or data_dir() / "prompts", PiperSynthesizer(length_scale=config.tts_length_scale))


def phrases_by_intent(flow: CompiledFlow) -> dict[str, tuple[str, ...]]:
    """Every phrase a recognizer may be asked to listen for, by intent (menu words included)."""
    phrases = {name: tuple(intent.phrases) for name, intent in flow.intents.items()}
    for (flow_name, node_id), _matcher in flow.menu_matchers.items():
        node = flow.flows[flow_name].nodes[node_id]
        assert isinstance(node, MenuNode)
        for option in node.options:
            extra = tuple(p for p in (option.say, option.label) if p and "{" not in p)
            phrases[option.intent] = tuple(dict.fromkeys(phrases.get(option.intent, ()) + extra))
    return phrases


def grammars_of(flow: CompiledFlow) -> list[GrammarSpec]:
    """Every grammar a call of ``flow`` can listen with (for engines that prepare them before calls come)."""
    phrases = phrases_by_intent(flow)
    return list(dict.fromkeys(GrammarSpec.for_listen(listen, phrases) for listen in listens_of(flow)))


def prepare_recognizer(recognizer: Recognizer, flows: Iterable[CompiledFlow], streams: int) -> None:
    """Let the engine build, before any call, what it would otherwise build during one (if it can)."""
    if isinstance(recognizer, PreparingRecognizer):
        grammars = list(dict.fromkeys(g for flow in flows for g in grammars_of(flow)))
        started = time.perf_counter()
        recognizer.prepare(grammars, streams)
        log.info("%s prepared %d grammars for %d calls in %.1f s", recognizer.name, len(grammars), streams,
                 time.perf_counter() - started)


BUILTIN = ("builtin:digits", "builtin:yes_no")


@dataclass
class Recognition:
    file: str
    engine: str
    text: str
    confidence: float
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    nbest: list[dict[str, Any]] = field(default_factory=list)
    #: Confidence of the alternative the node took (the flow confirms, or asks a PIN again, below its
    #: ``confirm.threshold``); None when nothing was taken.
    accepted_confidence: float | None = None
    #: For a global command: "act", or "confirm" (a goto command below the flow's command threshold, which
    #: the flow asks about first).
    command_action: str | None = None
    #: With --flow and --node: the intents the taken alternative (else the first) scores against at the node,
    #: best first, and the score a match needs (``settings.intent_threshold``, else the NLU's default).
    intent_scores: list[dict[str, Any]] = field(default_factory=list)
    intent_threshold: float | None = None
    #: With --flow and --node: the flow's ``settings.confirm.threshold`` and what the node does with what it
    #: took: "accept", "confirm" (reads it back first), "ask again" (a secure input below the threshold),
    #: "act" or "confirm" for a command (see command_action), "no match" when nothing was taken.
    confirm_threshold: float | None = None
    decision: str | None = None
    latency_ms: float = 0.0
    speech_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return to_jsonable(vars(self))  # type: ignore[no-any-return]


def builtin_listen(name: str, min_digits: int, max_digits: int) -> Listen:
    if name == "builtin:digits":
        return Listen(node=name, slot_type="digits", min_digits=min_digits, max_digits=max_digits)
    if name == "builtin:yes_no":
        return Listen(node=name, slot_type="yes_no", intents=("yes", "no"))
    raise ValueError(f"unknown grammar {name!r}: use {' or '.join(BUILTIN)}")


def recognize_utterance(recognizer: Recognizer, grammar: GrammarSpec, audio: Pcm, rate: int) -> tuple[
        RecognitionResult, float, float]:
    """Recognize one recording as a call would: 8 kHz phone audio, endpointed, then upsampled.

    Returns the result, the latency from the endpoint to the final result (ms), and the speech length.
    """
    phone = resample(audio, rate, PHONE_RATE) if rate != PHONE_RATE else audio
    endpointer = FrameEndpointer(WebRtcVad(2), PHONE_RATE, EndpointerConfig(no_input_ms=60000))
    endpointer.reset(0)
    stream = recognizer.open(grammar)
    try:
        frames = split_frames(phone, PHONE_RATE)
        start = end = None
        for index, frame in enumerate(frames):
            for event in endpointer.feed(frame, index * 20):
                if isinstance(event, SpeechStarted) and start is None:
                    start = event.speech_start_ms
                if isinstance(event, SpeechEnded):
                    end = event.speech_end_ms
        # The whole file goes to the recognizer (trimmed to the detected speech plus 300 ms either side)
        lo = max(0, (start or 0) - 300) * PHONE_RATE // 1000
        hi = min(len(phone), ((end or len(phone) * 1000 // PHONE_RATE) + 300) * PHONE_RATE // 1000)
        wide = resample(phone[lo:hi], PHONE_RATE, ASR_RATE)
        chunk = ASR_RATE // 50
        for offset in range(0, len(wide), chunk):
            stream.accept(wide[offset:offset + chunk])
        began = time.perf_counter()
        result = stream.finish()
        latency = (time.perf_counter() - began) * 1000
    finally:
        stream.close()
    # A file may end before the silence timeout: the speech then lasts to the end of the file.
    last = end if end is not None else len(phone) * 1000 // PHONE_RATE
    speech = last - start if start is not None else 0
    return result, latency, float(speech)


def recognize_file(
    path: Path, recognizer: Recognizer, listen: Listen, phrases: dict[str, tuple[str, ...]],
    flow: CompiledFlow | None = None, flow_name: str = "", node_id: str = "",
) -> Recognition:
    from voicebot.audio.pcm import read_wav

    audio, rate = read_wav(path)
    grammar = GrammarSpec.for_listen(listen, phrases)
    result, latency, speech = recognize_utterance(recognizer, grammar, audio, rate)
    out = Recognition(str(path), recognizer.name, result.text, round(result.confidence, 3),
                      nbest=[{"text": h.text, "confidence": round(h.confidence, 3)} for h in result.nbest],
                      latency_ms=round(latency, 1), speech_ms=speech)
    today = datetime.now(UTC).date()
    # The alternatives in order, as the flow engine tries them during a call: the first one that means
    # something at the node wins.
    candidates = {result.text: result.confidence}
    for hypothesis in result.nbest:
        candidates.setdefault(hypothesis.text, hypothesis.confidence)
    taken, taken_confidence = "", None
    for text, confidence in candidates.items():
        if text and _interpret(out, text, confidence, listen, flow, flow_name, node_id, today):
            out.accepted_confidence = round(confidence, 3)
            taken, taken_confidence = text, confidence
            break
    if flow is not None:
        _explain(out, taken or result.text, taken_confidence, flow, flow_name, node_id)
    return out


def _explain(out: Recognition, text: str, confidence: float | None, flow: CompiledFlow, flow_name: str,
             node_id: str) -> None:
    """Intent scores against the threshold, and the confirmation decision, as the node makes them."""
    node = flow.flows[flow_name].nodes[node_id]
    assert isinstance(node, (AskNode, MenuNode))
    matching = intent_matching(flow, flow_name, node_id, node, Commands.active(flow, flow_name, node))
    if matching is not None:
        matcher, allowed = matching
        out.intent_threshold = matcher.threshold
        out.intent_scores = [{"intent": s.name, "score": round(s.score, 3)}
                             for s in matcher.rank(text, allowed=allowed, limit=3)] if text else []
    out.confirm_threshold = flow.flows[flow_name].settings.confirm.threshold
    if out.command_action is not None:
        out.decision = out.command_action
    elif confidence is None:
        out.decision = "no match"
    elif not needs_confirmation(flow, flow_name, node, confidence, spoken=True):
        out.decision = "accept"
    else:
        out.decision = "ask again" if isinstance(node, AskNode) and node.secure else "confirm"


def _interpret(out: Recognition, text: str, confidence: float, listen: Listen, flow: CompiledFlow | None,
               flow_name: str, node_id: str, today: date) -> bool:
    """Fill ``out`` with what ``text`` means at the node; False when it means nothing there."""
    if flow is not None:
        node = flow.flows[flow_name].nodes[node_id]
        assert isinstance(node, (AskNode, MenuNode))
        found = interpret_speech(flow, flow_name, node_id, node, text, today,
                                 Commands.active(flow, flow_name, node))
        if isinstance(found, Filled):
            out.intent = found.intent
            out.slots = {node.slot: found.value, **found.entities}
        elif found is not None:
            out.intent = found.intent
            out.command_action = command_action(flow, flow_name, node, found, confidence)
        return found is not None
    from voicebot.nlu.slots import interpret_value

    value = interpret_value(listen.slot_type, text, today=today, min_length=listen.min_digits,
                            max_length=listen.max_digits)
    if value is not None:
        out.slots = {"value": value}
    return value is not None


def node_listen(flow: CompiledFlow, node: str) -> tuple[str, str, Listen]:
    """``node`` is "id" in the root flow or "subflow.id"."""
    flow_name, _, node_id = node.rpartition(".")
    flow_name = flow_name or flow.root
    return flow_name, node_id, listen_at(flow, flow_name, node_id)

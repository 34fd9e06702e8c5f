"""A whole call without SIP: a scripted caller through the real pipeline, on virtual time.

Script (YAML)::

    caller: "+15550100001"          # optional; --caller overrides
    voice: espeak:en-us             # voice for `speak` turns (espeak:NAME, flite:NAME, piper)
    turns:
      - speak: "balance"            # synthesized caller speech
      - dtmf: "1234"                # keys, 100 ms apart
      - say: audio/no.wav           # a recording (relative to the script), any rate, 16-bit
      - silence: 6000               # the caller says nothing for 6 s
      - speak: "agent"
        barge_in_ms: 500            # start talking 500 ms into the IVR's prompt
      - hangup: true

A turn starts when the IVR listens and has finished its prompt (plus ``gap_ms``, default 400), or
``barge_in_ms`` into the prompt. Caller audio passes a G.711 mu-law round trip, as on a phone line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from voicebot.audio.pcm import PHONE_RATE, frame_samples, read_wav
from voicebot.runtime.call import Call
from voicebot.runtime.call_events import CallEvent
from voicebot.tts.caller_voices import Voice, phone_line, synthesize

FRAME = frame_samples(PHONE_RATE)
FRAME_MS = 20
KEY_SPACING_TICKS = 5
TURN_KEYS = {"speak", "say", "dtmf", "silence", "hangup", "barge_in_ms", "gap_ms"}


class ScriptError(ValueError):
    pass


@dataclass
class CallerTurn:
    kind: str
    value: Any
    barge_in_ms: int | None = None
    gap_ms: int = 400


@dataclass
class Script:
    caller: str
    dialled: str
    voice: Voice
    turns: list[CallerTurn]
    base: Path


@dataclass
class SimulationResult:
    ivr_audio: np.ndarray
    caller_audio: np.ndarray
    events: list[CallEvent]
    turns: list[dict[str, Any]]
    call_id: str
    duration_ms: int
    timed_out: bool = False
    record: dict[str, Any] = field(default_factory=dict)


def parse_voice(text: str) -> Voice:
    family, _, name = text.partition(":")
    if family == "piper":
        return Voice("piper", name or "en_US-joe-medium")
    if family in ("espeak", "flite") and name:
        return Voice(family, name)
    raise ScriptError(f"unknown voice {text!r}: use espeak:NAME, flite:NAME or piper")


def load_script(path: Path) -> Script:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read the call script: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        # One line naming the file and line (PyYAML's own text says "<unicode string>" and spans lines).
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ScriptError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
        raise ScriptError(f"{path}: a call script is a mapping with a list of turns")
    turns = []
    for number, raw in enumerate(data["turns"], 1):
        if not isinstance(raw, dict):
            raise ScriptError(f"{path}: turn {number} must be a mapping")
        unknown = set(raw) - TURN_KEYS
        kinds = [k for k in ("speak", "say", "dtmf", "silence", "hangup") if k in raw]
        if unknown or len(kinds) != 1:
            extra = f"; unknown keys {sorted(unknown)}" if unknown else ""
            raise ScriptError(f"{path}: turn {number}: exactly one of speak, say, dtmf, silence, hangup "
                              f"(and optional barge_in_ms, gap_ms){extra}")
        turns.append(CallerTurn(kinds[0], raw[kinds[0]], raw.get("barge_in_ms"), int(raw.get("gap_ms", 400))))
    return Script(str(data.get("caller", "")), str(data.get("dialled", "")),
                  parse_voice(str(data.get("voice", "espeak:en-us"))), turns, path.parent)


def caller_audio(turn: CallerTurn, script: Script) -> np.ndarray:
    if turn.kind == "speak":
        return synthesize(script.voice, str(turn.value))
    if turn.kind == "say":
        pcm, rate = read_wav(script.base / str(turn.value))
        return phone_line(pcm, rate)
    return np.zeros(0, dtype=np.int16)


def run_simulation(media: Call, script: Script, *, max_seconds: float = 300.0) -> SimulationResult:
    """Drive the call ``media`` tick by tick with the script's caller; returns both sides' audio and timings.

    The call must run on a virtual clock with inline executors (``Services.new_call(..., clock=ManualClock(),
    executors=Executors.inline())``): the simulation advances the clock by 20 ms after every tick."""
    clock = media.session.clock
    advance = getattr(clock, "advance", None)
    media.start(script.caller, script.dialled)
    ivr: list[np.ndarray] = []
    heard: list[np.ndarray] = []
    pending = list(script.turns)
    speech = np.zeros(0, dtype=np.int16)
    position = 0
    keys: list[str] = []
    silent_until = -1
    started_seq = 0
    idle_since: int | None = None
    prompt_started: int | None = None
    tick_count = 0
    limit = int(max_seconds * 1000 / FRAME_MS)
    while not media.finished and tick_count < limit:
        now = media.now_ms
        if media.speaking and prompt_started is None:
            prompt_started = now
        if not media.speaking:
            prompt_started = None
        busy = position < len(speech) or keys or now < silent_until
        if not busy and pending and media.listen is not None and media.listen_seq > started_seq:
            turn = pending[0]
            ready = False
            if turn.barge_in_ms is not None and prompt_started is not None:
                ready = now - prompt_started >= turn.barge_in_ms
            elif not media.speaking:
                idle_since = now if idle_since is None else idle_since
                ready = now - idle_since >= turn.gap_ms
            if ready:
                pending.pop(0)
                started_seq = media.listen_seq
                idle_since = None
                if turn.kind == "hangup":
                    media.hang_up()
                    break
                if turn.kind == "dtmf":
                    keys = list(str(turn.value))
                elif turn.kind == "silence":
                    silent_until = now + int(turn.value)
                else:
                    speech, position = caller_audio(turn, script), 0
        if not pending and not busy and media.listen is not None and media.listen_seq > started_seq:
            # The script is over but the IVR still listens: the caller hangs up, as people do.
            media.hang_up()
            break
        frame = np.zeros(FRAME, dtype=np.int16)
        if position < len(speech):
            chunk = speech[position:position + FRAME]
            frame[: len(chunk)] = chunk
            position += FRAME
        key = ""
        if keys and tick_count % KEY_SPACING_TICKS == 0:
            key = keys.pop(0)
        heard.append(frame)
        ivr.append(media.tick(frame, key))
        if advance is not None:
            advance(FRAME_MS / 1000)
        tick_count += 1
    timed_out = not media.finished
    if timed_out:
        media.end_now("timeout")
    record = media.session.store.get_call(media.session.call_id)
    from voicebot.storage.calls import record_as_json

    return SimulationResult(
        ivr_audio=np.concatenate(ivr) if ivr else np.zeros(0, dtype=np.int16),
        caller_audio=np.concatenate(heard) if heard else np.zeros(0, dtype=np.int16),
        events=media.events,
        turns=[vars(t) for t in media.turns],
        call_id=media.session.call_id,
        duration_ms=media.now_ms,
        timed_out=timed_out,
        record=record_as_json(record) if record is not None else {},
    )

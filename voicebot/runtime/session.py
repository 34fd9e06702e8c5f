"""One call: feeds events to the pure engine, runs data actions, records everything.

This is the only place where engine decisions meet I/O. A channel (the text console, the conversation
test runner, later the audio pipeline and SIP) sends caller events in and plays the channel actions
that come back. Data actions run here, synchronously with a deadline, and their results go straight
back into the engine, so a channel never sees a ``RunAction``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voicebot.actions import Action, CancelTimer, Handoff, RunAction, StartTimer, action_to_dict
from voicebot.events import (
    ActionResult,
    CallStarted,
    Dtmf,
    Event,
    HangUp,
    TimerFired,
    Utterance,
    event_to_dict,
)
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.engine import new_state, step
from voicebot.flow.schema import AskNode
from voicebot.flow.state import CallState
from voicebot.logs import bind
from voicebot.runtime.clock import Clock, SystemClock
from voicebot.services.registry import ActionContext, ActionFailed, ActionRegistry
from voicebot.storage.calls import CallStore

log = logging.getLogger("voicebot.session")

MASK = "***"
SERVED = "self_served"
UNHEARD = "abandoned_during_answer"  # self-served by the flow, but the caller left before hearing the answer


@dataclass
class StepRecord:
    """What one event did: shown by the console and checked by conversation tests."""

    event: Event
    actions: list[Action]
    state: CallState


@dataclass
class CallSession:
    flow: CompiledFlow
    registry: ActionRegistry
    store: CallStore
    clock: Clock = field(default_factory=SystemClock)
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    state: CallState = field(init=False)
    history: list[StepRecord] = field(default_factory=list, init=False)
    #: Timer name -> due time on the clock, for channels that fire timers.
    timers: dict[str, float] = field(default_factory=dict, init=False)
    #: Set by a channel that records the call, so the record names its recording.
    recording_path: str | None = field(default=None, init=False)
    #: Set by the media loop when the caller leaves before the prompt with their answer played to its end:
    #: a call the flow marked ``self_served`` is then recorded as ``abandoned_during_answer``.
    answer_unheard: bool = field(default=False, init=False)
    #: The outcome written to the call record (None until the call is finished).
    outcome: str | None = field(default=None, init=False)
    #: Set by the SIP channel: the Call-ID header, stored in the record to match the PBX's logs.
    sip_call_id: str = field(default="", init=False)
    _seq: int = field(default=0, init=False)
    _finished: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.state = new_state(self.flow)

    # ----- channel side ---------------------------------------------------------------------------

    def start(self, caller_id: str, dialled: str = "") -> list[Action]:
        now = self.clock.now()
        bind(call_id=self.call_id)  # every log line of this call's thread carries its id
        self.store.start_call(self.call_id, caller_id, dialled, self.flow.root, _utc(now), self.sip_call_id)
        return self.send(CallStarted(self.call_id, caller_id, dialled, now))

    def say(self, text: str, confidence: float = 1.0) -> list[Action]:
        return self.send(Utterance(text, confidence, at=self.clock.now()))

    def keys(self, keys: str) -> list[Action]:
        return self.send(Dtmf(keys, at=self.clock.now()))

    def hang_up(self) -> list[Action]:
        return self.send(HangUp(at=self.clock.now()))

    def fire_due_timers(self) -> list[Action]:
        """Fire every timer whose time has come (channels call this as their clock advances)."""
        out: list[Action] = []
        for name, due in sorted(self.timers.items(), key=lambda item: item[1]):
            if due <= self.clock.now() and name in self.timers:
                del self.timers[name]
                out += self.send(TimerFired(name, at=self.clock.now()))
        return out

    @property
    def ended(self) -> bool:
        return self.state.ended

    def send(self, event: Event) -> list[Action]:
        """Process one event; returns the actions for the channel (never RunAction)."""
        if self._finished:
            return []
        out: list[Action] = []
        pending: list[Event] = [event]
        while pending:
            current = pending.pop(0)
            before = self.state
            try:
                self.state, actions = step(self.flow, before, current)
            except Exception as exc:  # a bug in the engine must still leave a complete record
                log.exception("engine failed on call %s", self.call_id)
                self._finish(error=f"engine error: {exc!r}")
                raise
            self._record(before, current, actions)
            for action in actions:
                if isinstance(action, RunAction):
                    pending.append(self._run(action))
                    continue
                if isinstance(action, StartTimer):
                    self.timers[action.name] = self.clock.now() + action.ms / 1000
                elif isinstance(action, CancelTimer):
                    self.timers.pop(action.name, None)
                elif isinstance(action, Handoff):
                    self.store.enqueue_handoff(self.call_id, action.queue, action.priority,
                                               list(action.skills), action.reason, action.payload)
                out.append(action)
        if self.state.ended:
            self._finish()
        return out

    # ----- data actions ---------------------------------------------------------------------------

    def _run(self, action: RunAction) -> ActionResult:
        """Run a data action with its deadline. A late action is abandoned, never waited for: its daemon
        thread finishes in the background while the caller hears the error branch."""
        ctx = ActionContext(engine=self.store.engine, call_id=self.call_id, now=_utc(self.clock.now()))
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["data"] = self.registry.run(action.name, dict(action.args), ctx)
            except ActionFailed as exc:
                outcome["error"] = str(exc)
            except Exception as exc:  # the registry wraps errors; this is the last line of defence
                outcome["error"] = f"{type(exc).__name__}: {exc}"

        worker = threading.Thread(target=work, name=f"action-{action.name}", daemon=True)
        worker.start()
        worker.join(action.timeout_ms / 1000)
        if worker.is_alive():
            return self._failed(action, f"timed out after {action.timeout_ms} ms")
        if "error" in outcome:
            return self._failed(action, outcome["error"])
        return ActionResult(action.request_id, True, outcome["data"], at=self.clock.now())

    def _failed(self, action: RunAction, reason: str) -> ActionResult:
        log.warning("call %s: action %s failed: %s", self.call_id, action.name, reason)
        return ActionResult(action.request_id, False, error=reason, at=self.clock.now())

    # ----- records --------------------------------------------------------------------------------

    def _record(self, before: CallState, event: Event, actions: list[Action]) -> None:
        self.history.append(StepRecord(event, actions, self.state))
        self._seq += 1
        secrets = {str(self.state.vars[k]) for k in self.state.secure_slots if self.state.vars.get(k) is not None}
        self.store.log_step(
            self.call_id,
            self._seq,
            event.at,
            _masked_event(self.flow, before, event),
            [_masked_action(a, secrets) for a in actions],
        )

    def _finish(self, error: str | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        s = self.state
        customer = s.vars.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else None
        outcome = s.outcome or ("error" if error else "abandoned")
        if outcome == SERVED and self.answer_unheard and s.vars.get("ended_by") == "caller":
            outcome = UNHEARD
        self.outcome = outcome
        self.store.finish_call(
            self.call_id,
            ended_at=_utc(self.clock.now()),
            outcome=outcome,
            authenticated=s.authenticated,
            customer_id=customer_id if isinstance(customer_id, int) else None,
            intents=list(s.intents),
            slots=s.recorded_slots(),
            nodes=list(s.path),
            handoff=s.handoff,
            error=error or s.error,
            recording_path=self.recording_path,
        )

    def close(self) -> None:
        """The channel is gone (hang-up, shutdown): make sure the record is complete."""
        if not self._finished:
            if not self.state.ended and self.state.waiting != "start":
                self.hang_up()
            self._finish()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _masked_event(flow: CompiledFlow, before: CallState, event: Event) -> dict[str, Any]:
    """Keys and words said at a secure node (a PIN) never reach the event log."""
    data = event_to_dict(event)
    if before.waiting in ("input", "confirm") and before.flow in flow.flows:
        node = flow.flows[before.flow].nodes.get(before.node)
        if isinstance(node, AskNode) and node.secure:
            if isinstance(event, Dtmf):
                data["keys"] = MASK
            elif isinstance(event, Utterance):
                data["text"] = MASK
                data["nbest"] = []
    return data


def _masked_action(action: Action, secrets: set[str]) -> dict[str, Any]:
    data = action_to_dict(action)
    if isinstance(action, RunAction) and secrets:
        data["args"] = {k: (MASK if str(v) in secrets else v) for k, v in action.args.items()}
    return data

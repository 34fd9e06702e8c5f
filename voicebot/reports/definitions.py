"""The figures of docs/reports.md, as pure functions of the rows of a period (no database here).

Every function takes plain rows (call records, queue entries, agent transitions, step logs) and returns
a dataclass of counts and rates; :mod:`voicebot.reports.queries` reads the rows and builds the report.
A rate whose denominator is zero is ``None`` (not 0 or 1: "no calls" is not "all calls served").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from voicebot.acd.config import AcdSettings
from voicebot.reports.erlang import agents_needed
from voicebot.storage.acd_models import AgentTransition, QueueEntry
from voicebot.storage.call_models import CallRecord
from voicebot.storage.db import as_utc

SELF_SERVED = "self_served"
#: Agent states that count as logged in and available for work (occupancy's denominator): on break and
#: logged out do not.
WORKING_STATES = ("available", "reserved", "busy", "wrap_up")
#: Agent states that count as handling a call (occupancy's numerator): talk (busy) and wrap-up.
HANDLING_STATES = ("busy", "wrap_up")


def rate(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# ----- containment ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Containment:
    calls: int
    self_served: int
    rate: float | None


def containment(calls: Sequence[CallRecord]) -> Containment:
    """Self-served calls over calls into the IVR. A hang-up, ``abandoned_during_answer`` (the caller left
    before hearing their answer), a handoff and an error are all *not* contained."""
    served = sum(1 for c in calls if c.outcome == SELF_SERVED)
    return Containment(len(calls), served, rate(served, len(calls)))


# ----- the queue: service level, ASA, abandonment, AHT ----------------------------------------------

@dataclass(frozen=True)
class QueuedCall:
    """One call that entered a queue, classified once for every queue figure."""

    call_id: str
    queue: str
    enqueued_at: datetime
    #: answered | abandoned | short_abandon | callback | other (still waiting, ended by a restart)
    kind: str
    wait_ms: int | None
    threshold_ms: int
    talk_ms: int | None
    wrap_ms: int | None
    hold_ms: int | None = None


def classify(calls: Iterable[CallRecord], entries: dict[str, QueueEntry], settings: AcdSettings) -> list[QueuedCall]:
    """The calls that entered a queue (``record.queue``: the first queue they entered)."""
    out = []
    for call in calls:
        if call.queue is None or call.enqueued_at is None:
            continue
        queue = settings.queue(call.queue)
        entry = entries.get(call.id)
        short_ms = round(queue.short_abandon_seconds * 1000)
        if entry is not None and entry.kind == "callback":
            kind = "callback"
        elif call.outcome == "abandoned_in_queue":
            kind = "short_abandon" if (call.wait_ms or 0) < short_ms else "abandoned"
        elif call.answered_at is not None:
            kind = "answered"
        else:
            kind = "other"
        out.append(QueuedCall(call.id, call.queue, as_utc(call.enqueued_at), kind, call.wait_ms,
                              round(queue.service_level_seconds * 1000), call.talk_ms, call.wrap_ms,
                              call.hold_ms))
    return out


@dataclass(frozen=True)
class ServiceLevel:
    queued: int
    #: queued - callbacks - short abandons: the calls the queue is judged on
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    abandoned_within: int
    short_abandons: int
    callbacks: int
    #: answered within the threshold / offered
    sl1: float | None
    #: (answered + abandoned within the threshold) / (answered + abandoned)
    sl2: float | None


def service_level(queued: Sequence[QueuedCall]) -> ServiceLevel:
    kinds = Counter(q.kind for q in queued)
    within = Counter(q.kind for q in queued if q.wait_ms is not None and q.wait_ms <= q.threshold_ms)
    offered = len(queued) - kinds["callback"] - kinds["short_abandon"]
    answered, abandoned = kinds["answered"], kinds["abandoned"]
    return ServiceLevel(
        queued=len(queued), offered=offered, answered=answered, answered_within=within["answered"],
        abandoned=abandoned, abandoned_within=within["abandoned"], short_abandons=kinds["short_abandon"],
        callbacks=kinds["callback"], sl1=rate(within["answered"], offered),
        sl2=rate(within["answered"] + within["abandoned"], answered + abandoned))


def asa_seconds(queued: Sequence[QueuedCall]) -> float | None:
    """Average speed of answer: queue time of answered calls over answered calls (abandons excluded)."""
    waits = [q.wait_ms or 0 for q in queued if q.kind == "answered"]
    return sum(waits) / len(waits) / 1000 if waits else None


@dataclass(frozen=True)
class Abandonment:
    offered: int
    abandoned: int
    #: abandoned (short abandons excluded) / offered (callbacks excluded)
    rate: float | None
    short_abandons: int
    callbacks: int


def abandonment(queued: Sequence[QueuedCall]) -> Abandonment:
    level = service_level(queued)
    return Abandonment(level.offered, level.abandoned, rate(level.abandoned, level.offered), level.short_abandons,
                       level.callbacks)


@dataclass(frozen=True)
class HandleTime:
    #: calls an agent talked to (answered live calls and completed callbacks) with their talk time stored
    calls: int
    talk_seconds: float
    #: time on hold from the agent's console (``hold_ms``; not part of talk)
    hold_seconds: float
    wrap_seconds: float
    #: (talk + hold + wrap-up) / calls
    aht_seconds: float | None


def handle_time(queued: Sequence[QueuedCall]) -> HandleTime:
    handled = [q for q in queued if q.talk_ms is not None]
    talk = sum(q.talk_ms or 0 for q in handled) / 1000
    wrap = sum(q.wrap_ms or 0 for q in handled) / 1000
    hold = sum(q.hold_ms or 0 for q in handled) / 1000
    return HandleTime(len(handled), talk, hold, wrap, (talk + hold + wrap) / len(handled) if handled else None)


@dataclass(frozen=True)
class QueueFigures:
    service_level: ServiceLevel
    asa: float | None
    abandonment: Abandonment
    aht: HandleTime


def queue_figures(queued: Sequence[QueuedCall]) -> QueueFigures:
    return QueueFigures(service_level(queued), asa_seconds(queued), abandonment(queued), handle_time(queued))


# ----- occupancy -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgentOccupancy:
    handling_seconds: float
    working_seconds: float
    #: (talk + wrap-up) / logged-in available time
    occupancy: float | None


def agent_time(transitions: Sequence[AgentTransition], since: datetime, until: datetime) -> dict[str, float]:
    """Seconds spent in each state within [since, until), from one agent's transitions in time order
    (including the last one before ``since``, which says the state the period starts in)."""
    spent: dict[str, float] = defaultdict(float)
    for current, following in zip(transitions, [*transitions[1:], None], strict=True):
        start = max(as_utc(current.at), since)
        end = min(as_utc(following.at) if following is not None else until, until)
        if end > start:
            # To the millisecond, as every stored duration (wait_ms, talk_ms, wrap_ms).
            spent[current.to_state] += round((end - start) / timedelta(milliseconds=1)) / 1000
    return dict(spent)


def occupancy(by_agent: Mapping[str, Sequence[AgentTransition]], since: datetime,
              until: datetime) -> tuple[AgentOccupancy, dict[str, AgentOccupancy]]:
    """(talk + wrap-up) / logged-in available time (available, reserved, busy, wrap-up), per agent and
    over all agents; time on break or logged out counts in neither."""
    agents: dict[str, AgentOccupancy] = {}
    for login, transitions in sorted(by_agent.items()):
        spent = agent_time(transitions, since, until)
        handling = sum(spent.get(s, 0.0) for s in HANDLING_STATES)
        working = sum(spent.get(s, 0.0) for s in WORKING_STATES)
        if working:
            agents[login] = AgentOccupancy(handling, working, rate(handling, working))
    handling = sum(a.handling_seconds for a in agents.values())
    working = sum(a.working_seconds for a in agents.values())
    return AgentOccupancy(handling, working, rate(handling, working)), agents


# ----- the IVR funnel ------------------------------------------------------------------------------

@dataclass
class NodeFunnel:
    node: str
    #: calls with at least one action at the node (it spoke, listened, ran an action, handed off, hung up)
    reached: int = 0
    #: calls whose caller hung up while the flow waited for the node's input
    hung_up: int = 0
    handed_off: int = 0
    #: inputs the node listened for (speech, completed keys, no input)
    turns: int = 0
    no_match: int = 0
    no_input: int = 0
    confidences: list[float] = field(default_factory=list)

    @property
    def no_match_rate(self) -> float | None:
        return rate(self.no_match, self.turns)

    @property
    def no_input_rate(self) -> float | None:
        return rate(self.no_input, self.turns)

    @property
    def mean_confidence(self) -> float | None:
        return sum(self.confidences) / len(self.confidences) if self.confidences else None


Step = tuple[dict[str, Any], list[dict[str, Any]]]


def funnel(steps_by_call: Mapping[str, Sequence[Step]]) -> list[NodeFunnel]:
    """The per-node funnel from the stored step logs (each step: the event fed in, the actions out).

    A turn at node N is an input event (speech, keys, no input) that arrives while N's ``Listen`` is the
    latest and that makes the flow act (key presses still being collected do not). It is a no-input if
    the event is ``NoInput``, and a no-match if the flow answers it by listening again at N for the same
    kind of input (its re-prompt). Mean confidence is over the speech inputs at N. A hang-up counts at the
    node whose input the flow was waiting for (the latest ``Listen``), or the latest node to act before any.
    """
    nodes: dict[str, NodeFunnel] = {}

    def at(name: str) -> NodeFunnel:
        return nodes.setdefault(name, NodeFunnel(name))

    for steps in steps_by_call.values():
        reached: set[str] = set()
        listening: tuple[str, str] | None = None
        last_node = ""
        for event, actions in steps:
            kind = event.get("type")
            acted = any(a.get("node") for a in actions)  # not just timer bookkeeping while keys are collected
            if kind in ("Utterance", "Dtmf", "NoInput") and listening is not None and acted:
                node = at(listening[0])
                node.turns += 1
                if kind == "NoInput":
                    node.no_input += 1
                elif any(a.get("type") == "Listen" and (a.get("node"), a.get("slot_type")) == listening
                         for a in actions):
                    node.no_match += 1
                if kind == "Utterance":
                    node.confidences.append(float(event.get("confidence", 0.0)))
            if kind == "HangUp" and (listening or last_node):
                at(listening[0] if listening is not None else last_node).hung_up += 1
            for action in actions:
                name = str(action.get("node") or "")
                if not name:
                    continue
                last_node = name
                if name not in reached:
                    reached.add(name)
                    at(name).reached += 1
                if action.get("type") == "Listen":
                    listening = (name, str(action.get("slot_type")))
                elif action.get("type") == "Handoff":
                    at(name).handed_off += 1
    return sorted(nodes.values(), key=lambda n: (-n.reached, n.node))


# ----- callbacks -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Callbacks:
    #: callers offered a callback by the router (their queue's max wait passed)
    offered: int
    #: callers who chose a callback (whether offered or asked for)
    accepted: int
    completed: int
    failed: int
    #: still to be placed or being placed
    pending: int
    cancelled: int


def callbacks(entries: Iterable[QueueEntry]) -> Callbacks:
    rows = list(entries)
    chosen = [e for e in rows if e.kind == "callback"]
    status = Counter(e.status for e in chosen)
    return Callbacks(
        offered=sum(1 for e in rows if e.callback_offered), accepted=len(chosen),
        completed=status["callback_completed"], failed=status["callback_failed"],
        pending=sum(status[s] for s in ("waiting", "offered", "dialling", "answered")),
        cancelled=status["cancelled"])


# ----- hour by hour (the dashboard's charts) ----------------------------------------------------------

@dataclass(frozen=True)
class Hour:
    hour: datetime
    calls: int
    self_served: int
    containment: float | None
    queued: int
    answered: int
    abandoned: int
    sl1: float | None
    sl2: float | None


def hourly(calls: Sequence[CallRecord], queued: Sequence[QueuedCall]) -> list[Hour]:
    """Containment and service level per hour (UTC) the calls started in, for hours with calls."""
    def hour_of(value: datetime) -> datetime:
        return as_utc(value).replace(minute=0, second=0, microsecond=0)

    by_hour: dict[datetime, list[CallRecord]] = defaultdict(list)
    for call in calls:
        by_hour[hour_of(call.started_at)].append(call)
    started = {c.id: hour_of(c.started_at) for c in calls}
    queued_by_hour: dict[datetime, list[QueuedCall]] = defaultdict(list)
    for q in queued:
        if q.call_id in started:
            queued_by_hour[started[q.call_id]].append(q)
    out = []
    for hour, rows in sorted(by_hour.items()):
        served = containment(rows)
        level = service_level(queued_by_hour[hour])
        out.append(Hour(hour, len(rows), served.self_served, served.rate, level.queued, level.answered,
                        level.abandoned, level.sl1, level.sl2))
    return out


# ----- staffing ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StaffingHour:
    hour: datetime
    queue: str
    #: calls that needed an agent: entered the queue in this hour, short abandons excepted
    calls: int
    #: the queue's measured AHT over the whole period (None: no handled call to measure)
    aht_seconds: float | None
    threshold_seconds: float
    target: float
    traffic_erlangs: float | None
    agents_needed: int | None
    expected_service_level: float | None
    expected_asa_seconds: float | None


def staffing(queued: Sequence[QueuedCall], target: float) -> list[StaffingHour]:
    """Erlang C per queue and hour with calls: arrival rate = the hour's calls, AHT = the queue's."""
    hours: dict[tuple[str, datetime], list[QueuedCall]] = defaultdict(list)
    by_queue: dict[str, list[QueuedCall]] = defaultdict(list)
    for q in queued:
        by_queue[q.queue].append(q)
        if q.kind != "short_abandon":
            hours[(q.queue, q.enqueued_at.replace(minute=0, second=0, microsecond=0))].append(q)
    out = []
    for (queue, hour), calls in sorted(hours.items(), key=lambda item: (item[0][1], item[0][0])):
        aht = handle_time(by_queue[queue]).aht_seconds
        threshold = calls[0].threshold_ms / 1000
        if aht is None or aht == 0:
            out.append(StaffingHour(hour, queue, len(calls), aht, threshold, target, None, None, None, None))
            continue
        plan = agents_needed(len(calls), aht, threshold, target)
        out.append(StaffingHour(hour, queue, len(calls), aht, threshold, target, plan.traffic_erlangs, plan.agents,
                                plan.service_level, plan.asa_seconds))
    return out

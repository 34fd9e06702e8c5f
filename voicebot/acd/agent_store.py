"""Agents in the database: accounts, presence (login, heartbeat, logout) and manual state changes."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from voicebot.acd.agents import check_manual
from voicebot.acd.config import AcdSettings
from voicebot.acd.entry_ops import finish_wrap_up, requeue_if_unoffered
from voicebot.acd.passwords import hash_password, verify_password
from voicebot.acd.tx import AcdError, claim, get_locked, move_agent
from voicebot.storage.acd_models import Agent, AgentTransition, Offer, QueueEntry
from voicebot.storage.db import session_scope

log = logging.getLogger("voicebot.acd")

#: Who may do what in the web console: agents answer calls; supervisors also watch queues and force states.
ROLES = ("agent", "supervisor")

_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def parse_skills(text: str) -> dict[str, int]:
    """``"banking:5,cards:3,vip"`` -> ``{"banking": 5, "cards": 3, "vip": 3}`` (proficiency 1-5, default 3)."""
    skills: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, level = item.partition(":")
        try:
            proficiency = int(level) if level else 3
        except ValueError:
            raise AcdError(f"skill {item!r}: proficiency must be a number 1-5") from None
        if not 1 <= proficiency <= 5:
            raise AcdError(f"skill {name!r}: proficiency must be 1-5, not {proficiency}")
        skills[name.strip()] = proficiency
    return skills


class AgentStore:
    def __init__(self, engine: Engine, settings: AcdSettings) -> None:
        self.engine = engine
        self.settings = settings

    def add(self, login: str, password: str, *, name: str = "", sip_uri: str = "",
            skills: dict[str, int] | None = None, now: datetime, role: str = "agent") -> Agent:
        if not _LOGIN.match(login):
            raise AcdError(f"login {login!r}: use lower-case letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise AcdError(f"role {role!r}: one of {', '.join(ROLES)}")
        for skill, level in (skills or {}).items():
            if not 1 <= level <= 5:
                raise AcdError(f"skill {skill!r}: proficiency must be 1-5, not {level}")
        with claim(self.engine) as session:
            if session.exec(select(Agent.id).where(Agent.login == login)).first() is not None:
                raise AcdError(f"agent {login!r} already exists")
            agent = Agent(login=login, name=name or login, password_hash=hash_password(password), sip_uri=sip_uri,
                          skills=dict(skills or {}), state_since=now, created_at=now, role=role)
            session.add(agent)
            session.flush()
            return agent

    def get(self, login: str) -> Agent:
        with session_scope(self.engine) as session:
            agent = session.exec(select(Agent).where(Agent.login == login)).first()
        if agent is None:
            raise AcdError(f"no agent {login!r}")
        return agent

    def all(self) -> list[Agent]:
        with session_scope(self.engine) as session:
            return list(session.exec(select(Agent).order_by(col(Agent.login))).all())

    def check_password(self, login: str, password: str) -> bool:
        try:
            return verify_password(self.get(login).password_hash, password)
        except AcdError:
            return False

    def login(self, login: str, now: datetime, state: str = "available", reason: str = "") -> Agent:
        """Start presence: the agent is available (or on break) with a fresh lease. The password is
        checked by the front end (console, CLI) with :meth:`check_password` before this."""
        return self.set_state(login, state, now, reason or "logged in")

    def heartbeat(self, login: str, now: datetime) -> Agent:
        """Renew the presence lease; an agent who was logged out by a lapse must log in again."""
        with claim(self.engine) as session:
            agent = self._locked(session, login)
            if agent.state == "logged_out":
                raise AcdError(f"agent {login} is logged out (log in again)")
            agent.lease_expires_at = now + timedelta(seconds=self.settings.agents.lease_seconds)
            session.add(agent)
            return agent

    def logout(self, login: str, now: datetime, reason: str = "logged out") -> Agent:
        return self.set_state(login, "logged_out", now, reason)

    def set_state(self, login: str, state: str, now: datetime, reason: str = "") -> Agent:
        """available, break (with a reason) or logged_out, by the agent or a supervisor. Leaving while an
        offer rings cancels it: the caller keeps their place."""
        with claim(self.engine) as session:
            # Lock order entry -> agent (as accept and abandon take them): the entry the agent is
            # reserved for is found unlocked, locked first, and the agent re-checked under its lock.
            seen = session.exec(select(Agent.current_entry_id).where(Agent.login == login)).first()
            entry = get_locked(session, self.engine, QueueEntry, seen) if seen is not None else None
            agent = self._locked(session, login)
            check_manual(agent.state, state)
            if agent.state == "reserved" and entry is not None and agent.current_entry_id == entry.id:
                # Only this agent's offer ends; ring-all siblings keep ringing.
                release_offers_of(session, self.engine, entry, agent, now, f"agent went {state}")
            if agent.state == "wrap_up":
                # Ending wrap-up early (or leaving from it) still records the wrap-up time on the call.
                finish_wrap_up(session, agent, now)
                if state != "available":
                    move_agent(session, agent, state, now, reason)
            else:
                move_agent(session, agent, state, now, reason)
            if state != "logged_out":
                agent.lease_expires_at = now + timedelta(seconds=self.settings.agents.lease_seconds)
            session.add(agent)
            log.info("agent %s: %s%s", login, state, f" ({reason})" if reason else "")
            return agent

    def transitions(self, login: str) -> list[AgentTransition]:
        agent = self.get(login)
        with session_scope(self.engine) as session:
            return list(session.exec(select(AgentTransition).where(AgentTransition.agent_id == agent.id)
                                     .order_by(col(AgentTransition.id))).all())

    def _locked(self, session: Session, login: str) -> Agent:
        agent_id = session.exec(select(Agent.id).where(Agent.login == login)).first()
        agent = get_locked(session, self.engine, Agent, agent_id) if agent_id is not None else None
        if agent is None:
            raise AcdError(f"no agent {login!r}")
        return agent


def release_offers_of(session: Session, engine: Engine, entry: QueueEntry, agent: Agent, now: datetime,
                      reason: str) -> None:
    """End ``agent``'s pending offer of ``entry`` (the agent's own state is the caller's business)."""
    offer = session.exec(select(Offer).where(Offer.entry_id == entry.id, Offer.agent_id == agent.id,
                                             Offer.status == "pending")).first()
    if offer is not None:
        offer.status, offer.decided_at = "cancelled", now
        session.add(offer)
    requeue_if_unoffered(session, entry)


"""Report settings: the typed form of the ``reports:`` configuration section (unknown keys are errors)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The service level the staffing estimate plans for: this share of calls answered within the
    #: queue's ``service_level_seconds`` (the usual "80/20" with the queue default of 20 s).
    service_level_target: float = Field(
        default=0.8, gt=0, lt=1,
        description="Staff for this share of calls answered within each queue's service_level_seconds (0-1).")


def parse_reports(raw: dict[str, Any] | None) -> ReportSettings:
    return ReportSettings.model_validate(raw or {})


def load_report_settings() -> ReportSettings:
    """The ``reports:`` section of the effective configuration, checked with the rest."""
    from voicebot.config import load_settings

    settings, _source = load_settings()
    return settings.reports

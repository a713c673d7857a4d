"""WhatsApp's 24-hour rule and the approved message templates SASI uses outside it.

Meta lets a business send free-form messages only within 24 hours of the user's last message;
anything the bot starts later must be an approved template. Every template SASI needs is named
here, keyed by the purpose of the message, so operators configure them in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from bot.channels.whatsapp_render import addressed
from handlers.messages import TemplateCall

WINDOW = timedelta(hours=24)
# Send a template a little before the window closes: a message queued at 23:59 may land after it.
WINDOW_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class TemplateSpec:
    """An approved template: its name at Meta, its language code, and its body parameters."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


# What a bot-initiated send asks for when the window is closed: the core's TemplateCall.
TemplateRequest = TemplateCall


class TemplateError(LookupError):
    """A template is missing or its parameters do not fit; the message says which and why."""


# The templates to create in WhatsApp Manager (README lists their Indonesian bodies).
# Parameter names document the order of {{1}}, {{2}} …; Meta only sees positions.
DEFAULT_TEMPLATES: Mapping[str, TemplateSpec] = MappingProxyType(
    {
        "link_code": TemplateSpec("sasi_kode_tautan", "id", ("code",)),
        "stage_reminder": TemplateSpec(
            "sasi_pengingat_tahap", "id", ("name", "idea", "stage", "deadline")
        ),
        "monitoring_prompt": TemplateSpec("sasi_monev_bulanan", "id", ("name", "idea", "month")),
        "monitoring_followup": TemplateSpec("sasi_monev_susulan", "id", ("name", "idea")),
        "monitoring_escalation": TemplateSpec(
            "sasi_monev_eskalasi", "id", ("coordinator", "count", "month")
        ),
        "stage_change": TemplateSpec("sasi_perubahan_tahap", "id", ("name", "idea", "stage")),
        "review_update": TemplateSpec("sasi_tinjauan_ide", "id", ("name", "idea", "outcome")),
        "broadcast": TemplateSpec("sasi_siaran", "id", ("sender", "message")),
        "weekly_digest": TemplateSpec("sasi_ringkasan_mingguan", "id", ("period", "summary")),
        "clarification_request": TemplateSpec(
            "sasi_klarifikasi_ide", "id", ("name", "idea", "reviewer", "question", "idea_id")
        ),
        "clarification_answer": TemplateSpec(
            "sasi_jawaban_klarifikasi", "id", ("reviewer", "idea", "owner", "answer")
        ),
        "idea_withdrawn": TemplateSpec("sasi_ide_ditarik", "id", ("coordinator", "idea", "owner")),
        "role_granted": TemplateSpec("sasi_peran_diberikan", "id", ("name", "role")),
        "role_revoked": TemplateSpec("sasi_peran_dicabut", "id", ("name", "role")),
        "export_ready": TemplateSpec("sasi_ekspor_siap", "id", ("name", "count")),
        "export_failed": TemplateSpec("sasi_ekspor_gagal", "id", ("name",)),
        "dashboard_link": TemplateSpec("sasi_tautan_dasbor", "id", ("name",)),
        "broadcast_report": TemplateSpec(
            "sasi_laporan_siaran", "id", ("broadcast", "sent", "total", "not_sent")
        ),
    }
)


def window_open(last_inbound: datetime | None, now: datetime) -> bool:
    """True while free-form messages are allowed: within 24 hours of the user's last message."""
    if last_inbound is None:
        return False
    return now - last_inbound < WINDOW - WINDOW_MARGIN


_SPACES = re.compile(r" {5,}")


def clean_parameter(value: str) -> str:
    """Make a value acceptable as a template parameter.

    Meta refuses parameters with new lines, tabs or more than four consecutive spaces (error
    132018), so a multi-line broadcast is flattened rather than lost.
    """
    flat = re.sub(r"\s*[\r\n\t]+\s*", " ", value).strip()
    return _SPACES.sub("    ", flat)


def resolve_template(
    templates: Mapping[str, TemplateSpec], request: TemplateRequest | None
) -> TemplateSpec:
    """The template for a request, or a :class:`TemplateError` saying what is missing."""
    if request is None:
        raise TemplateError(
            "the 24-hour window is closed and the message names no template purpose"
        )
    spec = templates.get(request.purpose)
    if spec is None:
        raise TemplateError(
            f"no WhatsApp template is configured for purpose {request.purpose!r} "
            f"(known: {', '.join(sorted(templates)) or 'none'})"
        )
    if len(request.parameters) != len(spec.parameters):
        raise TemplateError(
            f"template {spec.name!r} for {request.purpose!r} takes {len(spec.parameters)} "
            f"parameters ({', '.join(spec.parameters)}), got {len(request.parameters)}"
        )
    return spec


def template_payload(to: str, spec: TemplateSpec, parameters: Sequence[str]) -> dict[str, Any]:
    """The Graph API body of a template message."""
    template: dict[str, Any] = {"name": spec.name, "language": {"code": spec.language}}
    if parameters:
        template["components"] = [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": clean_parameter(value)} for value in parameters
                ],
            }
        ]
    return {
        **addressed(to),
        "type": "template",
        "template": template,
    }

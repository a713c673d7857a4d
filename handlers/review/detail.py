"""The reviewer's view of an idea: everything the owner sees, plus who, where, when, and
the ideas it resembles."""

from __future__ import annotations

from babel.dates import format_date

from handlers.context import StepContext
from handlers.money import format_rupiah
from handlers.review.queue import Match, QueueEntry, continued_past, is_pending
from handlers.text import shorten
from storage.models import Idea, User
from storage.queries import opds_by_id


async def _names(ctx: StepContext, user_ids: list[int]) -> list[str]:
    names = []
    for user_id in user_ids:
        user = await ctx.session.get(User, user_id)
        names.append((user.full_name if user else None) or "-")
    return names


def queue_line(ctx: StepContext, number: int, entry: QueueEntry, idea: Idea | None) -> str:
    t = ctx.t
    line = t(
        "review.item",
        number=number,
        id=entry.idea_id,
        name=entry.name,
        opd=idea.opd.short_name if idea and idea.opd else "-",
        owner=(idea.owner.full_name if idea and idea.owner else None) or "-",
    )
    if entry.possible_duplicate:
        line += " " + t("review.flag_duplicate")
    if entry.waiting:
        line += " " + t("review.flag_waiting")
    elif entry.answered:
        line += " " + t("review.flag_answered")
    return line


async def _clarifications(ctx: StepContext, idea: Idea) -> list[str]:
    """The questions already answered, each with who asked, who answered and when."""
    from handlers.clarification import rounds

    t = ctx.t
    lines = []
    for row in await rounds(ctx, idea.id):
        if row.answered_at is None or row.answer is None:
            continue
        when = format_date(
            row.answered_at.astimezone(ctx.timezone).date(), "d MMMM y", locale=t.locale
        )
        [asker, answerer] = await _names(ctx, [row.asked_by_id or 0, row.answered_by_id or 0])
        lines.append(
            t(
                "review.clarification_answered",
                question=shorten(row.question, 400),
                asker=asker,
                answer=shorten(row.answer, 1200),
                by=answerer,
                date=when,
            )
        )
    return lines


async def reviewer_detail(ctx: StepContext, idea: Idea, matches: list[Match]) -> str:
    t = ctx.t
    owner = (idea.owner.full_name if idea.owner else None) or "-"
    collaborators = await _names(ctx, [c.user_id for c in idea.collaborators])
    submitted = format_date(
        idea.created_at.astimezone(ctx.timezone).date(), "d MMMM y", locale=t.locale
    )
    lines = [
        t("review.detail_title", id=idea.id, name=idea.name),
        f"{t('review.field.owner')}: {owner}",
        f"{t('field.opd')}: {idea.opd.name if idea.opd else '-'}",
        f"{t('review.field.collaborators')}: {', '.join(collaborators) or '-'}",
        f"{t('field.stage')}: {t(f'stage.{idea.stage.value}')}",
        f"{t('field.status')}: {t(f'status.{idea.status.value}')}",
        f"{t('review.field.submitted')}: {submitted}",
        f"{t('field.problem')}: {shorten(idea.problem, 600)}",
        f"{t('field.idea')}: {shorten(idea.idea, 600)}",
    ]
    if idea.goal:
        lines.append(f"{t('field.goal')}: {shorten(idea.goal, 400)}")
    if idea.budget_estimate is not None:
        lines.append(f"{t('field.budget')}: {format_rupiah(idea.budget_estimate, t.locale)}")
    if idea.attachments:
        lines.append(f"{t('field.attachments')}: {len(idea.attachments)}")
    lines += await _clarifications(ctx, idea)
    if idea.status_reason and is_pending(idea):
        lines.append(t("review.waiting_for_owner", question=shorten(idea.status_reason, 600)))
    elif idea.status_reason:
        lines.append(f"{t('review.field.reason')}: {shorten(idea.status_reason, 600)}")
    if idea.merged_into_id is not None:
        lines.append(t("review.merged_into", id=idea.merged_into_id))
    past = await continued_past(ctx, idea)
    if past:
        warned = ", ".join(f"#{other.id} {other.name} ({round(score)})" for other, score in past)
        lines.append(t("review.continued_past", ideas=warned))
    lines.append("")
    lines.append(t("review.matches_title") if matches else t("review.no_matches"))
    opds = await opds_by_id(
        ctx.session, [m.idea.opd_id for m in matches if m.idea and m.idea.opd_id]
    )
    for number, match in enumerate(matches, start=1):
        score = round(match.score)
        if match.idea is None:
            lines.append(t("review.match_directory", number=number, doc=match.doc_id, score=score))
            continue
        opd = opds.get(match.idea.opd_id) if match.idea.opd_id else None
        lines.append(
            t(
                "review.match",
                number=number,
                id=match.idea.id,
                name=match.idea.name,
                opd=opd.short_name if opd else "-",
                stage=t(f"stage.{match.idea.stage.value}"),
                score=score,
            )
        )
    return "\n".join(lines)

"""Wiring: every flow and command of the core, in one table."""

from __future__ import annotations

from handlers import (
    action_plan,
    broadcast,
    clarification,
    dashboard_link,
    export,
    intake,
    monitoring,
    my_ideas,
    owner_actions,
    registration,
    review,
    roles_admin,
    schedule,
    summary,
)
from handlers.access import Access
from handlers.commands import Command, CommandTable
from handlers.context import StepContext
from handlers.flow import FlowRegistry, Transition
from handlers.menu import help_command, language_command, language_flow, start_command


async def _cancel(ctx: StepContext, args: str) -> Transition:
    # The engine handles /batal itself (it must work in every state); listed for menus.
    return Transition()


def build_flows() -> FlowRegistry:
    flows = FlowRegistry()
    for flow in (
        registration.flow,
        intake.flow,
        my_ideas.flow,
        owner_actions.edit_flow,
        owner_actions.withdraw_flow,
        clarification.flow,
        action_plan.flow,
        monitoring.flow,
        roles_admin.flow,
        review.flow,
        broadcast.flow,
        export.flow,
        language_flow,
    ):
        flows.register(flow)
    return flows


def build_commands() -> CommandTable:
    return CommandTable(
        [
            Command("mulai", start_command, Access.ANYONE, ("start",), "command.mulai"),
            Command("ide", intake.idea_command, Access.REGISTERED, ("idea",), "command.ide"),
            Command(
                "ideku", my_ideas.my_ideas_command, Access.REGISTERED, ("myideas",), "command.ideku"
            ),
            Command(
                "rencana", action_plan.plan_command, Access.REGISTERED, ("plan",), "command.rencana"
            ),
            Command(
                "lapor", monitoring.report_command, Access.REGISTERED, ("report",), "command.lapor"
            ),
            Command(
                "jadwal",
                schedule.schedule_command,
                Access.REGISTERED,
                ("schedule",),
                "command.jadwal",
            ),
            Command(
                "rekap",
                summary.summary_command,
                Access.COORDINATOR,
                ("summary",),
                "command.rekap",
                in_groups=True,
            ),
            Command(
                "tinjau", review.review_command, Access.COORDINATOR, ("review",), "command.tinjau"
            ),
            Command(
                "peran", roles_admin.roles_command, Access.BAPPEDA, ("roles",), "command.peran"
            ),
            Command(
                "siaran",
                broadcast.broadcast_command,
                Access.COORDINATOR,
                ("broadcast",),
                "command.siaran",
            ),
            Command(
                "ekspor", export.export_command, Access.COORDINATOR, ("export",), "command.ekspor"
            ),
            Command(
                "dasbor",
                dashboard_link.dashboard_command,
                Access.COORDINATOR,
                ("dashboard",),
                "command.dasbor",
            ),
            Command("batal", _cancel, Access.ANYONE, ("cancel",), "command.batal"),
            Command("bahasa", language_command, Access.ANYONE, ("language",), "command.bahasa"),
            Command("bantuan", help_command, Access.ANYONE, ("help",), "command.bantuan"),
        ]
    )

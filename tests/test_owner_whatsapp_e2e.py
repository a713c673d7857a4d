"""An owner withdraws an idea on WhatsApp: the detail's buttons, the confirmation, the result."""

from __future__ import annotations

from storage.models import IdeaStatus
from tests.test_whatsapp_e2e import (  # noqa: F401 (fixtures used by name)
    ID,
    Stack,
    graph_api,
    ideas,
    no_personal_data_in_logs,
    read,
    register,
    stack,
    submit_idea,
)


async def test_an_owner_withdraws_an_idea_on_whatsapp(stack: Stack) -> None:  # noqa: F811
    user = stack.user()
    await register(user)
    problem = "Lansia sulit datang ke puskesmas untuk cek kesehatan rutin setiap bulan."
    await submit_idea(user, "SI-JEMPOL", problem, "Petugas menjemput lansia sesuai jadwal.")
    [idea] = await ideas(stack.core)
    detail = await user.says(f"/ideku {idea.id}")
    assert ID("my_ideas.detail_title", id=idea.id, name="SI-JEMPOL") in read(detail)
    confirm = await user.taps(f"/ideku {idea.id} tarik")
    assert ID("owner.withdraw_confirm", id=idea.id, name="SI-JEMPOL") in read(confirm)
    done = await user.taps("owithdraw:yes")
    assert ID("owner.withdrawn", id=idea.id, name="SI-JEMPOL") in read(done)
    [idea] = await ideas(stack.core)
    assert idea.status is IdeaStatus.WITHDRAWN
    # The same button again, from the old detail: refused, nothing changes.
    again = await user.send(
        "interactive_button_reply",
        BUTTON_ID=f"/ideku {idea.id} tarik",
        BUTTON_TITLE=ID("owner.withdraw_button"),
    )
    assert ID("owner.locked", id=idea.id, status=ID("status.withdrawn")) in read(again)

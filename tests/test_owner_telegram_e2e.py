"""One owner's edit end to end through Telegram: the real core, PTB, the fake Bot API."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditEntry, Idea
from tests.fakes.telegram_api import TelegramRig
from tests.test_telegram_e2e import (  # noqa: F401 (fixtures used by name)
    ID,
    Person,
    no_personal_data_in_logs,
    rig,
)


async def test_an_owner_edits_an_idea_through_telegram(rig: TelegramRig) -> None:  # noqa: F811
    rina = Person(rig, rig.fake.user(9101, "Rina"))
    await rina.register()
    await rina.start_idea("SI-JEMPOL")
    await rina.finish_idea()
    await rina.press("summary:save")
    async with rig.core.database.sessions() as session:
        idea_id = await session.scalar(select(Idea.id))
    assert idea_id is not None

    await rina.say(f"/ideku {idea_id}")
    detail = rina.keyboard()
    withdraw = next(data for text, data in detail.buttons if text == ID("owner.withdraw_button"))
    assert ID("my_ideas.detail_title", id=idea_id, name="SI-JEMPOL") in (detail.text or "")
    await rina.pick(ID("owner.edit_button"))
    assert ID("owner.ask_field", id=idea_id) in rina.text
    await rina.pick(ID("field.name"))
    await rina.say("SI-JEMPOL <b>Plus</b> *2*")
    assert "SI-JEMPOL <b>Plus</b> *2*" in rina.text  # before → after, shown as typed
    await rina.pick(ID("owner.save"))
    assert ID("owner.saved", field=ID("field.name")) in rina.text

    async with rig.core.database.sessions() as session:
        idea = await session.get(Idea, idea_id)
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "idea.edit"))
    assert idea is not None and idea.name == "SI-JEMPOL <b>Plus</b> *2*"
    assert audit is not None and audit.after == {"name": "SI-JEMPOL <b>Plus</b> *2*"}
    # The spent keyboard is gone from the detail; its other button, pressed anyway (as from a
    # client that still shows it), is checked afresh and opens the withdrawal's confirmation.
    assert detail.reply_markup is None
    await rina._settle(rig.fake.press(rina.user, detail, withdraw, check=False))
    assert ID("owner.withdraw_confirm", id=idea_id, name="SI-JEMPOL <b>Plus</b> *2*") in rina.text

"""/bahasa switches the language of everything the person reads."""

from __future__ import annotations

from tests.chat import EN, ID, ChatDriver


async def test_switching_to_english_and_back(chat: ChatDriver) -> None:
    await chat.register("rina")
    replies = await chat.say("rina", "/bahasa")
    assert replies[-1].text == ID("language.ask")
    replies = await chat.pick("rina", "English")
    assert replies[0].text == EN("language.changed")
    replies = await chat.say("rina", "/idea")
    assert replies[-1].text == EN("intake.ask_name")
    await chat.say("rina", "/cancel")
    replies = await chat.say("rina", "/language id")
    assert replies[0].text == ID("language.changed")


async def test_a_newcomer_can_choose_english_before_registering(chat: ChatDriver) -> None:
    await chat.say("tom", "/bahasa")
    await chat.pick("tom", "English")
    replies = await chat.say("tom", "/start")
    assert replies[-1].text == EN("registration.ask_name")


async def test_ignoring_the_language_menu_moves_on(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    await chat.say("rina", "/bahasa")
    replies = await chat.say("rina", "SI-JEMPOL")
    # The menu is left behind and the answer goes to the idea underneath.
    assert replies[-1].text == ID("intake.ask_problem")

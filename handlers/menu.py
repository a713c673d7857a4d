"""The main menu, help, and the language switch."""

from __future__ import annotations

from handlers.access import load_roles, roles_of
from handlers.choices import choice
from handlers.context import StepContext
from handlers.flow import Answer, Flow, Frame, Transition, end, push, stay
from handlers.i18n import LOCALES, Translator
from handlers.messages import Choice, Reply


def main_menu_choices(t: Translator) -> tuple[Choice, ...]:
    """Every main action as a button, so nobody has to type a command."""
    return (
        choice("/ide", t("menu.submit_idea")),
        choice("/ideku", t("menu.my_ideas")),
        choice("/jadwal", t("menu.schedule")),
        choice("/bahasa", t("menu.language")),
        choice("/bantuan", t("menu.help")),
    )


def main_menu(ctx: StepContext) -> Reply:
    name = ctx.user.full_name or ""
    return Reply(ctx.t("menu.prompt", name=name), choices=main_menu_choices(ctx.t))


async def help_command(ctx: StepContext, args: str) -> Transition:
    if not ctx.user.is_registered:
        return Transition(say=[Reply(ctx.t("help.newcomer"))])
    from handlers.help import registered_help

    await load_roles(ctx.session, ctx.user)
    text = registered_help(ctx.t, roles_of(ctx.user))
    return Transition(say=[Reply(text, choices=main_menu_choices(ctx.t))])


async def start_command(ctx: StepContext, args: str) -> Transition:
    from handlers import registration

    if ctx.user.is_registered:
        opd = ctx.user.opd.name if ctx.user.opd is not None else "-"
        return Transition(
            say=[
                Reply(
                    ctx.t("registration.already", name=ctx.user.full_name or "", opd=opd),
                    choices=main_menu_choices(ctx.t),
                )
            ]
        )
    return push(registration.flow.new_frame(), Reply(ctx.t("registration.welcome")))


language_flow = Flow(name="language", first="choose", is_menu=True)


async def language_command(ctx: StepContext, args: str) -> Transition:
    wanted = args.strip().lower()
    if wanted in LOCALES:
        ctx.set_locale(wanted)
        return Transition(say=[Reply(ctx.t("language.changed"))])
    return push(language_flow.new_frame())


async def ask_language(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(
        ctx.t("language.ask"),
        choices=tuple(choice(f"lang:{code}", ctx.t(f"language.name.{code}")) for code in LOCALES),
    )


async def answer_language(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice is None:
        if answer.text and answer.text.strip().lower() in LOCALES:
            ctx.set_locale(answer.text.strip().lower())
            return end(Reply(ctx.t("language.changed")))
        # Not an answer to this menu: the person moved on.
        return Transition(fallthrough=True)
    code = answer.choice.removeprefix("lang:")
    if code not in LOCALES:
        return stay(Reply(ctx.t("input.stale_button")))
    ctx.set_locale(code)
    return end(Reply(ctx.t("language.changed")))


language_flow.add("choose", ask_language, answer_language)

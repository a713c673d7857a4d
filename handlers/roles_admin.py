"""``/peran``: Bappeda officers and admins grant and revoke roles in chat.

Who may grant which role is decided in handlers/access.py (``grantable_roles``); the flow
asks for a NIP, shows the person's roles, and grants or revokes one at a time. Each change
is audited (storage/roles.py) and the person is told through the outbox.
"""

from __future__ import annotations

from sqlalchemy import select

from handlers.access import Access, grantable_roles, load_roles
from handlers.choices import choice
from handlers.context import StepContext
from handlers.flow import Answer, Flow, Frame, Transition, end, goto, push, stay, text_problem
from handlers.help import role_help
from handlers.i18n import Translator
from handlers.messages import Delivery, Reply, TemplateCall
from handlers.nip import normalise_nip
from handlers.opd_picker import OpdPicker, Picked, Problem
from storage.audit import Actor
from storage.models import Opd, Role, User, UserRole
from storage.queries import preferred_identity
from storage.roles import grant, revoke

flow = Flow(name="roles", first="nip", access=Access.BAPPEDA)
opd_picker = OpdPicker(prefix="role_opd", prompt_key="roles.ask_opd")

GRANT = "role:grant:"  # + role value
REVOKE = "role:revoke:"  # + user_roles.id
DONE = "role:done"


async def roles_command(ctx: StepContext, args: str) -> Transition:
    frame = flow.new_frame()
    if args.strip():
        found = await _target_by_nip(ctx, args)
        if found is None:
            return push(frame, Reply(ctx.t("roles.not_found")))
        frame.data["target"] = found.id
        frame.step = "menu"
    return push(frame)


async def _target_by_nip(ctx: StepContext, text: str) -> User | None:
    nip = normalise_nip(text)
    user = await ctx.session.scalar(select(User).where(User.nip == nip)) if nip else None
    return user if user is not None and user.is_registered else None


async def _target(ctx: StepContext, frame: Frame) -> User | None:
    user_id = frame.data.get("target")
    return await ctx.session.get(User, user_id) if isinstance(user_id, int) else None


async def ask_nip(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(ctx.t("roles.ask_nip"))


async def answer_nip(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if problem := text_problem(ctx, answer):
        return stay(problem)
    assert answer.text is not None
    user = await _target_by_nip(ctx, answer.text)
    if user is None:
        return stay(Reply(ctx.t("roles.not_found")))
    frame.data["target"] = user.id
    return goto("menu")


def _role_name(t: Translator, role: Role, opd: Opd | None) -> str:
    if role is Role.COORDINATOR:
        return t("roles.name.coordinator", opd=opd.short_name if opd is not None else "-")
    return t(f"roles.name.{role.value}")


async def _held(ctx: StepContext, user: User) -> list[tuple[UserRole, Opd | None]]:
    rows = await ctx.session.execute(
        select(UserRole, Opd)
        .outerjoin(Opd, Opd.id == UserRole.opd_id)
        .where(UserRole.user_id == user.id)
        .order_by(UserRole.id)
    )
    return [(role, opd) for role, opd in rows.all()]


async def ask_menu(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    user = await _target(ctx, frame)
    if user is None:
        return Reply(t("roles.not_found"))
    await load_roles(ctx.session, ctx.user)
    allowed = grantable_roles(ctx.user)
    held = await _held(ctx, user)
    names = ", ".join(_role_name(t, r.role, o) for r, o in held) or t("roles.name.asn")
    opd = user.opd.short_name if user.opd is not None else "-"
    has = {r.role for r, _ in held}
    choices = [
        choice(f"{GRANT}{role.value}", t(f"roles.grant.{role.value}"))
        for role in (Role.COORDINATOR, Role.BAPPEDA, Role.ADMIN)
        # One can coordinate several OPDs; the other roles are held once.
        if role in allowed and (role is Role.COORDINATOR or role not in has)
    ]
    choices += [
        choice(f"{REVOKE}{r.id}", t("roles.revoke", role=_role_name(t, r.role, o)))
        for r, o in held
        if r.role in allowed and user.id != ctx.user.id
    ]
    choices.append(choice(DONE, t("roles.done")))
    text = t("roles.menu", name=user.full_name or "", nip=user.nip or "", opd=opd, roles=names)
    return Reply(text, choices=tuple(choices[:10]))


async def answer_menu(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    user = await _target(ctx, frame)
    if user is None:
        return end(Reply(t("roles.not_found")))
    if answer.choice == DONE:
        return end(Reply(t("roles.finished")))
    if answer.choice is None:
        if answer.text and normalise_nip(answer.text).isdigit():
            # Another NIP: manage that person next.
            other = await _target_by_nip(ctx, answer.text)
            if other is None:
                return stay(Reply(t("roles.not_found")))
            frame.data["target"] = other.id
            return stay()
        return Transition(fallthrough=True)
    await load_roles(ctx.session, ctx.user)
    allowed = grantable_roles(ctx.user)
    if answer.choice.startswith(GRANT):
        try:
            role = Role(answer.choice.removeprefix(GRANT))
        except ValueError:
            return stay(Reply(t("input.stale_button")))
        if role not in allowed:
            return stay(Reply(t("access.denied")))
        if role is Role.COORDINATOR:
            opd_picker.reset(frame)
            return goto("opd")
        return stay(await _grant(ctx, user, role, None))
    if answer.choice.startswith(REVOKE):
        held = {str(r.id): (r, o) for r, o in await _held(ctx, user)}
        found = held.get(answer.choice.removeprefix(REVOKE))
        if found is None:
            return stay(Reply(t("roles.already_changed")))
        role_row, opd = found
        if role_row.role not in allowed or user.id == ctx.user.id:
            return stay(Reply(t("access.denied")))
        await revoke(ctx.session, Actor.of(ctx.user), user, role_row.role, opd)
        await _tell(ctx, user, "roles.told_revoked", role_row.role, opd)
        name = _role_name(t, role_row.role, opd)
        return stay(Reply(t("roles.revoked", name=user.full_name or "", role=name)))
    return stay(Reply(t("input.stale_button")))


async def _grant(ctx: StepContext, user: User, role: Role, opd: Opd | None) -> Reply:
    t = ctx.t
    name = _role_name(t, role, opd)
    if not await grant(ctx.session, Actor.of(ctx.user), user, role, opd):
        return Reply(t("roles.already_held", name=user.full_name or "", role=name))
    await _tell(ctx, user, "roles.told_granted", role, opd)
    return Reply(t("roles.granted", name=user.full_name or "", role=name))


async def _tell(ctx: StepContext, user: User, key: str, role: Role, opd: Opd | None) -> None:
    """Queue a note to the person, in their language, on the channel they last used."""
    identity = await preferred_identity(ctx.session, user.id)
    if identity is None or user.id == ctx.user.id:
        return
    t = Translator(user.locale or ctx.t.locale)
    text = t(key, role=_role_name(t, role, opd), by=ctx.user.full_name or "")
    if key == "roles.told_granted":
        text += "\n\n" + role_help(t, role)
    values = (user.full_name or "", _role_name(t, role, opd))
    granted = key == "roles.told_granted"
    ctx.deliveries.append(
        Delivery(
            channel=identity.channel,
            external_id=identity.external_id,
            replies=(Reply(text),),
            # WhatsApp past 24 hours: the approved template, which points to /bantuan.
            template=TemplateCall("role_granted", values)
            if granted
            else TemplateCall("role_revoked", values),
            kind="role_notice",
        )
    )


async def ask_opd(ctx: StepContext, frame: Frame) -> Reply:
    return await opd_picker.ask(ctx, frame)


async def answer_opd(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    result = await opd_picker.answer(ctx, frame, answer)
    if isinstance(result, Problem):
        return stay(result.reply)
    if isinstance(result, Picked):
        user = await _target(ctx, frame)
        opd = await ctx.session.get(Opd, result.opd_id)
        if user is None or opd is None:
            return end(Reply(ctx.t("roles.not_found")))
        return goto("menu", await _grant(ctx, user, Role.COORDINATOR, opd))
    return stay()


flow.add("nip", ask_nip, answer_nip)
flow.add("menu", ask_menu, answer_menu)
flow.add("opd", ask_opd, answer_opd)

"""The conversation framework: frames on a stack, steps that ask and answer, transitions.

A step never calls a channel. It returns intent (what to say, where to go next); the engine
saves the new state in the same transaction as the data, commits, and only then sends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from handlers.access import Access
from handlers.context import StepContext
from handlers.messages import Attachment, Reply


@dataclass
class Frame:
    """One conversation in progress: which flow, which step, and what it gathered so far."""

    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "step": self.step, "data": self.data}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Frame:
        return cls(flow=str(raw["flow"]), step=str(raw["step"]), data=dict(raw.get("data") or {}))


@dataclass(frozen=True)
class Answer:
    """A person's answer to the current question, already cleaned by the engine.

    ``choice`` is set when a button was pressed or a number typed for an offered choice; it is
    always one of the payloads the last question offered.
    """

    text: str | None = None
    choice: str | None = None
    attachments: tuple[Attachment, ...] = ()
    offered: int = 0  # how many choices the question offered (numbered 1..offered)


@dataclass
class Transition:
    """What a step decided. Exactly one of the movement fields is normally set.

    - ``goto``: the next step of the same flow;
    - ``end``: the flow is over (the frame below, if any, resumes);
    - ``push``: start another flow on top (the current one resumes when it ends);
    - ``fallthrough``: the answer was not for this frame (a menu the person moved on from):
      end it and hand the same answer to the frame below;
    - none: stay and ask the same question again (after ``say``, e.g. a validation error).
    """

    say: list[Reply] = field(default_factory=list)
    goto: str | None = None
    end: bool = False
    push: Frame | None = None
    fallthrough: bool = False


def text_problem(ctx: StepContext, answer: Answer) -> Reply | None:
    """The polite refusal when a question wants text and got a file, a button or nothing."""
    if answer.attachments or answer.choice is not None or not answer.text:
        return Reply(ctx.t("input.text_expected"))
    return None


def choose_option(ctx: StepContext, answer: Answer) -> Reply:
    """The refusal when a question wants one of its choices: it names the numbers to type,
    which is all a terminal (no buttons) can go by."""
    if answer.offered:
        return Reply(ctx.t("input.choose_option", last=answer.offered))
    return Reply(ctx.t("input.choose_button"))


def stay(*say: Reply) -> Transition:
    return Transition(say=list(say))


def goto(step: str, *say: Reply) -> Transition:
    return Transition(say=list(say), goto=step)


def end(*say: Reply) -> Transition:
    return Transition(say=list(say), end=True)


def push(frame: Frame, *say: Reply) -> Transition:
    return Transition(say=list(say), push=frame)


class Step(Protocol):
    """One question of a flow."""

    async def ask(self, ctx: StepContext, frame: Frame) -> Reply:
        """The question, with its choices. Called again after a restart or an error."""
        ...

    async def answer(self, ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
        """Handle the person's answer; may change ``frame.data``."""
        ...


AskFn = Callable[[StepContext, Frame], Awaitable[Reply]]
AnswerFn = Callable[[StepContext, Frame, Answer], Awaitable[Transition]]


@dataclass(frozen=True)
class FnStep:
    """A step made of two functions, which is how most steps are written."""

    ask_fn: AskFn
    answer_fn: AnswerFn

    async def ask(self, ctx: StepContext, frame: Frame) -> Reply:
        return await self.ask_fn(ctx, frame)

    async def answer(self, ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
        return await self.answer_fn(ctx, frame, answer)


@dataclass
class Flow:
    """A named set of steps. ``first`` is where a new frame starts."""

    name: str
    first: str
    steps: dict[str, Step] = field(default_factory=dict)
    # A menu (language, my ideas) is light: /batal closes it without touching the work below.
    is_menu: bool = False
    # Checked by the engine before every answer, so a button from an old message or a role
    # revoked mid-conversation cannot act with rights the person no longer has.
    access: Access = Access.ANYONE

    def step(self, name: str) -> Callable[[type[Any]], type[Any]]:
        """Class decorator registering a step class (instantiated without arguments)."""

        def register(cls: type[Any]) -> type[Any]:
            self.steps[name] = cls()
            return cls

        return register

    def add(self, name: str, ask_fn: AskFn, answer_fn: AnswerFn) -> None:
        self.steps[name] = FnStep(ask_fn, answer_fn)

    def new_frame(self, data: dict[str, Any] | None = None, step: str | None = None) -> Frame:
        return Frame(flow=self.name, step=step or self.first, data=dict(data or {}))


OFFERED_BELOW = "_offered_below"  # frame data key: the buttons of the question underneath


class FlowRegistry:
    def __init__(self) -> None:
        self._flows: dict[str, Flow] = {}

    def register(self, flow: Flow) -> Flow:
        self._flows[flow.name] = flow
        return flow

    def get(self, name: str) -> Flow | None:
        return self._flows.get(name)

    def access(self, frame: Frame) -> Access:
        flow = self._flows.get(frame.flow)
        return flow.access if flow is not None else Access.ANYONE

    def is_menu(self, frame: Frame) -> bool:
        flow = self._flows.get(frame.flow)
        return flow is not None and flow.is_menu

    def step(self, frame: Frame) -> Step | None:
        flow = self._flows.get(frame.flow)
        return flow.steps.get(frame.step) if flow else None

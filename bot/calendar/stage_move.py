"""Kept for imports written before the move: the stage move lives in handlers/stage_move.py,
shared by the CLI and the review flow (handlers never import bot)."""

from handlers.stage_move import STAGE_MESSAGE_PRIORITY, StageMove, Told, move_idea, stage_message

__all__ = ["STAGE_MESSAGE_PRIORITY", "StageMove", "Told", "move_idea", "stage_message"]

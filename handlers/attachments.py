"""Files a person sends during a conversation: kept in the draft, then saved with the idea.

Idea intake (attachments) and the monthly report (eviden) both keep a received file in the
frame until the person confirms, then write it as an :class:`IdeaAttachment`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.messages import Attachment
from storage.models import IdeaAttachment


def draft_file(attachment: Attachment) -> dict[str, Any]:
    """A received file as the draft keeps it (JSON, in the conversation state)."""
    return {
        "kind": attachment.kind,
        "path": str(attachment.path),
        "file_name": attachment.file_name[:255],
        "mime_type": attachment.mime_type,
        "size": attachment.size,
    }


def attachment_row(
    file: dict[str, Any],
    *,
    idea_id: int,
    uploaded_by: int,
    now: datetime,
    report_id: int | None = None,
) -> IdeaAttachment:
    """The saved row of a draft file; ``indicator`` is the IID indicator it proves, if any."""
    return IdeaAttachment(
        idea_id=idea_id,
        kind=file["kind"],
        file_name=file["file_name"],
        mime_type=file.get("mime_type"),
        size=file.get("size"),
        storage_path=file["path"],
        indicator=file.get("indicator"),
        report_id=report_id,
        uploaded_by_id=uploaded_by,
        created_at=now,
    )

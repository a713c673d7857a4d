"""``/tinjau``: coordinators, Bappeda officers and admins review new ideas (issue 14.3).

``queue`` finds what a reviewer may see, ``actions`` changes an idea with its audit entry,
``notices`` tells its people, ``detail`` shows it, ``flow`` and ``bulk`` are the conversation.
"""

from handlers.review import bulk as _bulk  # noqa: F401  (registers the bulk steps on the flow)
from handlers.review.flow import flow, review_command

__all__ = ["flow", "review_command"]

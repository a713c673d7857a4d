"""The complete schema: every module that defines tables, imported once.

Alembic, the tests and anything that needs all tables import ``metadata`` from here, so a
model module added later cannot be forgotten by one of them.
"""

from __future__ import annotations

from storage import message_status, models, outbox

metadata = models.Base.metadata
TABLE_MODULES = (models, message_status, outbox)

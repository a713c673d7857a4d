"""The scheduler: computes from the database what SASI should say first, and when (``due``),
puts it in the outbox under idempotency keys (``loop``), and composes its words at send time,
if it is still wanted (``compose``)."""

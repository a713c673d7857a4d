"""The scheduler: computes from the database what SASI should say first, and when
(``due``), puts it in the outbox under idempotency keys, checks at send time that it is still
wanted (``relevance``), and clears out old rows (``loop``)."""

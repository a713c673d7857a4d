"""The outbox's sending side: one loop per channel claims due rows and sends them within the
channel's rate limits (``sender``, ``limits``); channels report what happened (``errors``)."""

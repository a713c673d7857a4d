"""Broadcasts' work beside the outbox sender: progress for the sender, the final report."""

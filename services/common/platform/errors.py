"""Errors whose meaning every service shares."""


class TransientError(Exception):
    """A dependency is temporarily unavailable or busy; a worker retries the event, never dead-letters it."""

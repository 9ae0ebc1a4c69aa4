"""intent service."""

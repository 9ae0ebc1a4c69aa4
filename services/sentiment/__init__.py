"""sentiment service."""

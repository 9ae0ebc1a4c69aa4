"""What the three Kafka workers (intent, sentiment, generator) share: the thin faust loop with its
per-event error handling, and their start-up and shutdown."""

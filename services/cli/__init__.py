"""`cs`, the operator CLI: synchronous tools over kafka-python and the repositories (topics, keys,
knowledge bases, personas, model versions, escalation queues, erasure). Not a service: it runs,
acts and exits, and imports `services.common` like a service does, never a service's folder."""

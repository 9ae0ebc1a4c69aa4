"""What every process stands on: settings, logging (with PII masking), metrics, health, lifecycle,
the topic registry and codec, Kafka, TLS, deterministic ids. Imports nothing else of the project
but the generated protobuf stubs."""

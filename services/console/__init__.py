"""The browser side: the agent inbox, the live conversation and the supervisor wallboard, a gRPC client of the gateway."""

"""gRPC server reflection on the public server, so grpcurl and similar tools work without the protos."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection

from services.common.proto.cs.v1 import (
    account_service_pb2,
    agent_service_pb2,
    customer_service_pb2,
    widget_service_pb2,
)


def enable_reflection(server: grpc.aio.Server) -> None:
    names = [
        customer_service_pb2.DESCRIPTOR.services_by_name["CustomerService"].full_name,
        agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
        account_service_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name,
        widget_service_pb2.DESCRIPTOR.services_by_name["WidgetService"].full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]
    reflection.enable_server_reflection(names, server)

"""Entry point: `cs-gateway`."""

from __future__ import annotations

from services.common.platform import lifecycle
from services.gateway.server import serve
from services.gateway.settings import GatewaySettings


def main() -> None:
    async def run(stop) -> None:
        await serve(stop, GatewaySettings.from_env())

    lifecycle.run(run, "cs-gateway")


if __name__ == "__main__":
    main()

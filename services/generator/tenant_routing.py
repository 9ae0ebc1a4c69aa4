"""Routing by a tenant's own rules (its tenant file's `queues` and `routing`, docs/tenant-file.md).

A tenant with a tenant file gets the platform's routing policy (services/generator/policy.py: the
same cues, anger, loops, thresholds) with its own map of intents to queues and its own default queue,
and one rule more: an intent its file lists under `always_escalate`, understood with confidence, goes
to a person (reason ROUTING_RULE) instead of being answered by the bot. A tenant without a file keeps
the platform policy as it is. Rules are read through TenantRulesCache, so a new apply reaches the
generator within CS_TENANT_RELOAD_S, without a restart.

A queue with business hours is told apart only in the handover notice: outside them the customer
learns when a person will be back, and the conversation waits in the queue all the same.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from services.common.platform.tenant_file import TenantRules
from services.common.storage.tenant_models import TenantRulesCache
from services.generator.policy import Action, Decision, PolicyInput, Reason, ReasonCode, RoutingPolicy


class TenantPolicy:
    """The platform policy with a tenant's queues, and its always-escalate intents."""

    def __init__(self, base: RoutingPolicy, rules: TenantRules) -> None:
        config = dataclasses.replace(
            base.config,
            intent_queues={**base.config.intent_queues, **rules.intent_queues},
            default_queue=rules.default_queue or base.config.default_queue,
        )
        self.policy = RoutingPolicy(config)
        self.config = config
        self.rules = rules

    def _always(self, inp: PolicyInput) -> Reason | None:
        if (
            inp.intent_label in self.rules.always_escalate
            and not inp.out_of_scope
            and inp.intent_confidence is not None
            and inp.intent_confidence >= self.config.low_confidence_threshold
        ):
            return Reason(
                ReasonCode.ROUTING_RULE,
                f"intent {inp.intent_label} ({inp.intent_confidence:.2f}) always goes to a person (tenant rules v{self.rules.version})",
            )
        return None

    def decide(self, inp: PolicyInput) -> Decision:
        decision = self.policy.decide(inp)
        if decision.action == Action.SILENT:
            return decision
        rule = self._always(inp)
        if rule is None:
            return decision
        if decision.action == Action.ESCALATE:
            return dataclasses.replace(decision, reasons=(*decision.reasons, rule))
        return self.policy.hand_over(inp, rule)

    def hand_over(self, inp: PolicyInput, reason: Reason) -> Decision:
        return self.policy.hand_over(inp, reason)


class TenantRouting:
    """Which policy decides for a tenant, and when its queues are staffed."""

    def __init__(self, base: RoutingPolicy, cache: TenantRulesCache) -> None:
        self.base = base
        self._cache = cache
        self._policies: dict[tuple[str, int], TenantPolicy] = {}

    async def rules(self, tenant_id: str) -> TenantRules | None:
        return await self._cache.get(tenant_id)

    async def policy(self, tenant_id: str) -> RoutingPolicy | TenantPolicy:
        rules = await self.rules(tenant_id)
        if rules is None:
            return self.base
        key = (tenant_id, rules.version)
        if key not in self._policies:
            self._policies = {k: v for k, v in self._policies.items() if k[0] != tenant_id}  # one version each
            self._policies[key] = TenantPolicy(self.base, rules)
        return self._policies[key]

    async def back_at(self, tenant_id: str, queue: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        """(when the queue opens again, now) when it is outside its business hours; None when staffed."""
        rules = await self.rules(tenant_id)
        declared = rules.queue(queue) if rules else None
        if declared is None or declared.hours is None:
            return None
        opens = declared.hours.next_opening(now)
        return (opens, now) if opens is not None else None

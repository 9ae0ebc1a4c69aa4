"""The gateway's memory of the customer profiles it wrote lately (services/gateway/profiles.py)."""

from __future__ import annotations

from services.common.proto.cs.v1 import conversation_pb2 as conv
from services.gateway.profiles import RecentProfiles

ANN = conv.CustomerProfile(display_name="Ann", tier="standard")


def test_a_profile_written_lately_is_unchanged_until_it_changes() -> None:
    recent = RecentProfiles()
    assert not recent.unchanged("acme", "c1", ANN), "never written: write it"
    recent.wrote("acme", "c1", ANN)
    assert recent.unchanged("acme", "c1", conv.CustomerProfile(display_name="Ann", tier="standard"))
    assert not recent.unchanged("acme", "c1", conv.CustomerProfile(display_name="Ann", tier="vip"))
    assert not recent.unchanged("other", "c1", ANN), "another tenant's customer of the same id"


def test_a_profile_is_written_again_after_ttl() -> None:
    recent = RecentProfiles(ttl_s=0.0)
    recent.wrote("acme", "c1", ANN)
    assert not recent.unchanged("acme", "c1", ANN)


def test_only_the_most_recent_customers_are_kept() -> None:
    recent = RecentProfiles(size=2)
    for customer in ("c1", "c2", "c3"):
        recent.wrote("acme", customer, ANN)
    assert not recent.unchanged("acme", "c1", ANN)
    assert recent.unchanged("acme", "c2", ANN) and recent.unchanged("acme", "c3", ANN)

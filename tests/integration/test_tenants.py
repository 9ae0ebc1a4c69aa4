"""Per-tenant persona on the real database, set with `cs tenants persona` as an operator would."""

from __future__ import annotations

import json
import subprocess

import pytest

from services.common.storage.mongo import connect
from services.common.storage.tenants import TenantSettingsRepo
from tests.conftest import Stack

pytestmark = pytest.mark.stack


def persona_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess:
    return stack.cli("tenants", "persona", *args, timeout=60)


async def test_persona_fields_are_merged_removed_and_validated(stack):
    set_ = persona_cli(
        stack, "--tenant", "p-acme", "--brand", "AcmeBrands", "--business", "an online clothing retailer"
    )
    assert set_.returncode == 0, set_.stderr
    assert json.loads(set_.stdout)["persona"] == {"brand": "AcmeBrands", "business": "an online clothing retailer"}
    persona_cli(stack, "--tenant", "p-acme", "--voice-zh", "亲切", "--business", "")
    mongo, db = await connect(stack.mongo_uri, stack.database, 10)
    try:
        assert await TenantSettingsRepo(db).persona("p-acme") == {"brand": "AcmeBrands", "voice_zh": "亲切"}
        assert await TenantSettingsRepo(db).persona("p-other") == {}
    finally:
        await mongo.close()
    bad = persona_cli(stack, "--tenant", "p-acme", "--language", "fr")
    assert bad.returncode == 2 and "language must be en or zh" in bad.stderr
    shown = persona_cli(stack, "--tenant", "p-acme")
    assert json.loads(shown.stdout)["persona"] == {"brand": "AcmeBrands", "voice_zh": "亲切"}

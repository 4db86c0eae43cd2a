from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_healthz_reports_state_without_auth(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    data = response.json()
    assert data["database"] == "ok"
    assert data["status"] == "ok"
    assert set(data) == {"database", "redis", "worker", "status"}

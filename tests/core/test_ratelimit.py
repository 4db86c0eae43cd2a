"""cmer.ratelimit: counters shared through the cache, refusing when the cache cannot count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client
from django.urls import reverse

from cmer import ratelimit

# Nothing listens on port 1: every cache call fails as with Redis down.
DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def test_counts_up_to_the_limit_then_refuses(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    decisions = [ratelimit.hit("t", "203.0.113.1", limit=3, window=60) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.first_refusal for d in decisions] == [False, False, False, True, False]
    assert ratelimit.hit("t", "203.0.113.2", limit=3, window=60).allowed  # per key


def test_an_unreachable_cache_refuses(settings):
    settings.CACHES = DEAD_REDIS
    decision = ratelimit.hit("t", "203.0.113.1", limit=3, window=60)
    assert not decision.allowed and 1 <= decision.retry_after <= 60


@pytest.mark.django_db
def test_verification_page_refuses_politely_when_the_cache_is_down(settings):
    settings.CACHES = DEAD_REDIS
    response = Client(REMOTE_ADDR="203.0.113.9").post(
        reverse("training:verify"), {"code": "AAAA-BBBB-CCCC"}
    )
    assert response.status_code == 429
    assert 'data-testid="verify-limited"' in response.content.decode()


def test_production_settings_share_the_counters_through_redis():
    """With REDIS_URL (compose), every gunicorn worker counts in the same place."""
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','cmer.settings');"
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    )
    env = {
        **os.environ,
        "CMER_TESTING": "0",
        "REDIS_URL": "redis://127.0.0.1:6379/9",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "django.core.cache.backends.redis.RedisCache"

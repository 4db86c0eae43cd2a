"""A fixed-window rate limit in Django's cache, for public pages that answer a lookup (the
verification of a training attestation): ``hit("verify", request_key, limit=…, window=…)``.

django-axes already limits logins (per account); this limits anything else per client address.
The counters live in the ``default`` cache: shared by every process when the cache is (Redis,
Memcached, database cache); with Django's default per-process memory cache, each web process
counts on its own, so the effective limit is the limit times the number of processes.
Nothing is stored but a counter per key and window, which expires with the window.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    count: int  # hits in this window, this one included
    retry_after: int  # seconds until the window ends

    @property
    def first_refusal(self) -> bool:
        """The first hit over the limit in this window: record the refusal once, not per hit."""
        return not self.allowed and self.count == self._limit + 1

    _limit: int = 0


def hit(scope: str, key: str, *, limit: int, window: int) -> RateDecision:
    """Count one hit of ``key`` (e.g. a client address) in ``scope``; allowed up to ``limit``
    hits per ``window`` seconds."""
    now = time.time()
    slot = int(now // window)
    # Hashed: no address in a cache key, and a fixed length whatever the key.
    digest = hashlib.sha256(f"{scope}|{key}".encode()).hexdigest()[:32]
    bucket = f"cmer-ratelimit:{scope}:{digest}:{slot}"
    retry_after = max(1, int((slot + 1) * window - now))
    try:
        cache.add(bucket, 0, timeout=window + 5)
        try:
            count = cache.incr(bucket)
        except ValueError:  # evicted between add and incr: count this hit as the first
            cache.set(bucket, 1, timeout=window + 5)
            count = 1
    except Exception:  # the cache (Redis) is unreachable
        # Fail closed: without a counter nobody can tell how many tries this address had.
        logger.warning("rate limit %s: cache unreachable, refusing", scope)
        return RateDecision(allowed=False, count=limit + 1, retry_after=retry_after, _limit=limit)
    return RateDecision(allowed=count <= limit, count=count, retry_after=retry_after, _limit=limit)

"""The API's in-process caches: bounded, and an API key's answer expires."""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session, sessionmaker

from recgen.api.state import KeyCache, RecentFeeds
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.repos.api_keys import create_api_key, revoke_api_key


def _sessions(sqlite_url: str) -> sessionmaker[Session]:
    upgrade(sqlite_url)
    return session_factory(make_engine(sqlite_url))


def test_key_answers_expire_known_after_ttl_unknown_sooner(sqlite_url: str) -> None:
    sessions = _sessions(sqlite_url)
    with session_scope(sessions) as session:
        _, key = create_api_key(session, name="shop", scopes=["backend"])
    now = [0.0]
    cache = KeyCache(sessions, ttl=60.0, timer=lambda: now[0])
    assert asyncio.run(cache.principal(key)) is not None
    assert asyncio.run(cache.principal("rg_late")) is None
    with session_scope(sessions) as session:
        revoke_api_key(session, name="shop")
        create_api_key(session, name="late", scopes=["backend"], key="rg_late")
    now[0] = 3.0
    assert asyncio.run(cache.principal("rg_late")) is None  # the unknown answer, cached
    now[0] = 6.0
    assert asyncio.run(cache.principal("rg_late")) is not None  # 5 s later: read again
    now[0] = 30.0
    assert asyncio.run(cache.principal(key)) is not None  # the known answer, for 60 s
    now[0] = 61.0
    assert asyncio.run(cache.principal(key)) is None  # revoked, read again


def test_recent_feeds_keep_the_most_recently_written_users() -> None:
    recent = RecentFeeds(capacity=2)
    for user in (1, 2, 3):
        recent.remember(user, [user * 10])
    assert recent.get(1) is None
    assert recent.get(2) == (20,) and recent.get(3) == (30,)

"""The dashboard against a real world (PostgreSQL, Redis, the job code, the serving path):
its JSON endpoints, and the page itself driven end to end in headless Chromium."""

from __future__ import annotations

import base64
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from harness.database import scratch_database
from recgen.api.app import Overrides, create_app
from recgen.core.config import CONFIG_FILE_ENV, PROJECT_ROOT, Settings, get_settings
from recgen.generation.cache import RedisAssetCache, StoredFeed
from recgen.store.db import make_engine, session_factory, session_scope
from recgen.store.migrate import upgrade
from recgen.store.models import GeneratedAssetRow, InteractionRow
from recgen.store.repos.api_keys import create_api_key
from tests.conftest import PG_ADMIN_URL, REDIS_TEST_URL
from tests.support import dashboard_world as world
from tests.support.api import RecordingDispatcher

pytestmark = pytest.mark.integration

ADMIN_KEY = "rg_dashboard_admin"
RECOMMENDER_KEY = "rg_dashboard_recommender"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT = PROJECT_ROOT / "var" / "dashboard" / "dashboard.png"
# Flags that let Chromium run headless as root with no network beyond loopback.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)
PAGE_TIMEOUT_S = 20


@dataclass
class DashboardWorld:
    settings: Settings
    api: TestClient
    cache: RedisAssetCache
    redis: redis.Redis[bytes]
    experiment_id: int
    # A user served generated content whose feed has a generated image, a generated text and
    # a gate rejection: what the page must show.
    showcase_user: int


def _showcase_user(api: TestClient, cache: RedisAssetCache, experiment_id: int) -> int:
    """A user of the generated arm with generated text and images, preferring one whose feed
    also has a gate rejection (whether the shipped models produce one here is up to them)."""
    candidates = []
    for user_id in range(1, world.USERS + 1):
        arm = api.get(f"/v1/experiments/{experiment_id}/assignments/{user_id}").json()["arm"]
        feed = cache.get_feed(user_id)
        if arm == "generated" and feed is not None:
            items = feed.items
            if any(i.image_key for i in items) and any(i.text_key for i in items):
                rejections = sum(
                    gate is not None and not gate.passed
                    for i in items
                    for gate in (i.text_gate, i.image_gate)
                )
                candidates.append((rejections > 0, user_id))
    assert candidates, "no user of the generated arm has generated text and images"
    return max(candidates, key=lambda c: (c[0], -c[1]))[1]


@pytest.fixture(scope="module")
def dash(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardWorld]:
    tmp = tmp_path_factory.mktemp("dashboard")
    prefix = f"recgen-test-{uuid.uuid4().hex[:8]}"
    with scratch_database(PG_ADMIN_URL, tag="test") as pg_url, pytest.MonkeyPatch.context() as mp:
        upgrade(pg_url)
        # rebuild_cmd and build_context read settings from the environment, as a worker does.
        mp.delenv(CONFIG_FILE_ENV, raising=False)
        for key, value in {
            "RECGEN_ENV": "test",
            "RECGEN_CACHE_BACKEND": "redis",
            "RECGEN_DATABASE_URL": pg_url,
            "RECGEN_INDEX_DIR": str(tmp / "indexes"),
            "RECGEN_REDIS_URL": REDIS_TEST_URL,
            "RECGEN_CACHE_PREFIX": prefix,
            "RECGEN_FEED_SIZE": "6",
            "RECGEN_LOCK_WAIT_S": "1",
            "RECGEN_API_BOOTSTRAP_KEY": ADMIN_KEY,
            "RECGEN_EXPOSURE_DRAIN_INTERVAL_SECONDS": "3600",  # drained explicitly
        }.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        settings = get_settings()
        products = world.load_catalog(settings, data_dir)
        users = world.simulate_users(settings, products)
        world.rebuild_profiles(settings, products)
        controls = world.build_feeds(settings)
        with session_scope(session_factory(make_engine(pg_url))) as session:
            create_api_key(session, name="recommender", scopes=["recommender"], key=RECOMMENDER_KEY)
        client: redis.Redis[bytes] = redis.Redis.from_url(REDIS_TEST_URL)
        cache = RedisAssetCache(client, prefix, ttl=600, jitter=0.0)
        app = create_app(settings, Overrides(dispatcher=RecordingDispatcher()))  # type: ignore[arg-type]
        try:
            with TestClient(app, headers={"X-API-Key": ADMIN_KEY}) as api:
                experiment_id = world.run_experiment(api, users, products, controls)
                showcase = _showcase_user(api, cache, experiment_id)
                yield DashboardWorld(settings, api, cache, client, experiment_id, showcase)
        finally:
            cache.purge()
            client.close()
            get_settings.cache_clear()


def _audit(settings: Settings) -> dict[str, GeneratedAssetRow]:
    with session_scope(session_factory(make_engine(settings.database_url))) as session:
        rows = session.scalars(select(GeneratedAssetRow)).all()
        session.expunge_all()
    return {row.cache_key: row for row in rows}


# ---- JSON endpoints --------------------------------------------------------------------------


def test_dashboard_data_needs_an_admin_key(dash: DashboardWorld) -> None:
    assert dash.api.get("/v1/dashboard/stats", headers={"X-API-Key": ""}).status_code == 401
    refused = dash.api.get("/v1/dashboard/users", headers={"X-API-Key": RECOMMENDER_KEY})
    assert refused.status_code == 403
    assert dash.api.get("/v1/dashboard/users/999999").json()["error"]["code"] == "not_found"
    # The page itself carries no data and is served without a key.
    page = dash.api.get("/dashboard", headers={"X-API-Key": ""})
    assert page.status_code == 200 and "recgen dashboard" in page.text
    script = dash.api.get("/dashboard/static/dashboard.js", headers={"X-API-Key": ""})
    assert script.status_code == 200 and "/v1/dashboard/" in script.text


def test_users_and_profile_come_from_the_store(dash: DashboardWorld) -> None:
    page = dash.api.get("/v1/dashboard/users", params={"limit": 10}).json()
    assert [u["user_id"] for u in page["users"]] == list(range(1, 11))
    assert page["next_after_id"] == 10
    rest = dash.api.get("/v1/dashboard/users", params={"after_id": 10, "limit": 100}).json()
    assert len(rest["users"]) == world.USERS - 10 and rest["next_after_id"] is None
    listed = {u["user_id"]: u for u in page["users"] + rest["users"]}
    user = dash.api.get(f"/v1/dashboard/users/{dash.showcase_user}").json()
    with session_scope(session_factory(make_engine(dash.settings.database_url))) as session:
        rows = session.scalars(
            select(InteractionRow).where(InteractionRow.user_id == dash.showcase_user)
        ).all()
        # Profiles were built from the simulated history; the experiment's clicks came later.
        history = sum(r.exposure_id is None for r in rows)
    assert listed[dash.showcase_user]["events"] == len(rows)
    assert user["profile"]["event_count"] == history > 0
    assert user["profile"]["persona_id"] == listed[dash.showcase_user]["persona_id"]
    views = sum(kinds.get("view", 0) for kinds in user["interaction_mix"]["usage"].values())
    assert 0 < views <= user["profile"]["event_count"]
    assert len(user["recent"]) == 10 and all(e["title"] for e in user["recent"])


def test_feed_view_shows_payloads_gates_and_provenance_without_logging(
    dash: DashboardWorld,
) -> None:
    stream = f"{dash.settings.cache_prefix}:{dash.settings.exposure_stream}"
    before = dash.redis.xlen(stream)
    body = dash.api.get(f"/v1/dashboard/users/{dash.showcase_user}/feed").json()
    feed = dash.cache.get_feed(dash.showcase_user)
    assert isinstance(feed, StoredFeed)
    assert body["state"] == "ready" and body["serves"] == "generated" == body["arm"]
    assert [i["product_id"] for i in body["items"]] == [i.product_id for i in feed.items]
    audit = _audit(dash.settings)
    for item, cached in zip(body["items"], feed.items, strict=True):
        text, image = item["text"], item["image"]
        row = audit[text["key"]]
        assert text["provenance"]["model_name"] == row.model_name
        assert text["provenance"]["seed"] == row.seed
        assert (
            text["provenance"]["conditions"]["product"]["article_type"]
            == (item["product"]["article_type"])
        )
        assert text["gate"]["passed"] is row.gate_passed
        # A rejected text is not in the feed; its audit row and reasons still are on the page.
        assert (cached.text_key is None) == (not row.gate_passed)
        if cached.text_key:
            payload = dash.cache.get_many([cached.text_key])[cached.text_key]
            assert payload is not None and text["value"] == payload.decode()
        else:
            assert text["value"] is None and text["gate"]["reasons"] == row.gate_reasons
        if cached.image_key:
            assert image["url"].startswith("/v1/assets/asset:image:")
            assert dash.api.get(image["url"]).content.startswith(b"\x89PNG")
        assert item["stock_image_url"] == f"/v1/products/{item['product_id']}/image"
    assert dash.redis.xlen(stream) == before, "viewing a feed must not log exposures"


def test_experiment_report_and_stats(dash: DashboardWorld) -> None:
    (experiment,) = dash.api.get("/v1/dashboard/experiments").json()["experiments"]
    assert experiment["id"] == dash.experiment_id and experiment["status"] == "running"
    report = experiment["report"]
    direct = dash.api.get(f"/v1/experiments/{dash.experiment_id}/report").json()
    assert report == direct
    exposures = {arm: report["arms"][arm]["exposures"] for arm in ("stock", "generated")}
    assert all(n > 0 for n in exposures.values())
    mix: dict[str, int] = {}
    for m in experiment["content_mix"]:
        mix[m["arm"]] = mix.get(m["arm"], 0) + m["count"]
    assert mix == exposures
    assert {m["content"] for m in experiment["content_mix"] if m["arm"] == "stock"} == {"stock"}

    stats = dash.api.get("/v1/dashboard/stats").json()
    audit = _audit(dash.settings)
    models = {(m["kind"], m["model_name"]): m for m in stats["generation"]["models"]}
    for kind in ("text", "image"):
        rows = [r for r in audit.values() if r.kind == kind]
        (summary,) = [m for (k, _), m in models.items() if k == kind]
        assert summary["generated"] == len(rows)
        assert summary["rejected"] == sum(not r.gate_passed for r in rows)
    assert sum(t["count"] for t in stats["generation"]["timeline"]) == len(audit)
    assert stats["cache"]["feeds_tracked"] == stats["cache"]["feeds_fresh"] == world.USERS
    served = stats["serving"]["feed_items"]
    assert served["generated"] + served["stock"] == sum(exposures.values())


# ---- the page in Chromium -----------------------------------------------------------------


@contextmanager
def _serving(app: FastAPI) -> Iterator[str]:
    """The app on a real loopback port (uvicorn in a thread), for the browser."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def _chromium(profile_dir: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


def _full_page_png(driver: Any) -> bytes:
    """The whole page, not only the window (DevTools captures beyond the viewport)."""
    # innerWidth includes the scrollbar: capturing beyond the viewport lays the page out
    # without one, so the page is that wide in the capture.
    width, height = driver.execute_script(
        "return [window.innerWidth, document.documentElement.scrollHeight];"
    )
    clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    return base64.b64decode(shot["data"])


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium/chromedriver not installed")
def test_dashboard_page_in_headless_chromium(dash: DashboardWorld, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # A second app instance: the TestClient's app is bound to its own event loop.
    app = create_app(dash.settings, Overrides(dispatcher=RecordingDispatcher()))  # type: ignore[arg-type]
    feed = dash.api.get(f"/v1/dashboard/users/{dash.showcase_user}/feed").json()
    with _serving(app) as base, _chromium(tmp_path / "chromium") as driver:
        driver.get(f"{base}/dashboard?user={dash.showcase_user}")
        driver.find_element(By.ID, "api-key").send_keys(ADMIN_KEY)
        driver.find_element(By.CSS_SELECTOR, "#connect button").click()
        WebDriverWait(driver, PAGE_TIMEOUT_S).until(
            lambda d: (
                d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                in ("ready", "error")
            )
        )
        status = driver.find_element(By.ID, "status").text
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready", (
            status
        )

        cards = driver.find_elements(By.CSS_SELECTOR, "#feed-items article.card")
        assert [int(c.get_attribute("data-product")) for c in cards] == [
            i["product_id"] for i in feed["items"]
        ]
        texts = [c.find_element(By.CSS_SELECTOR, "p.text").text for c in cards]
        for item, shown in zip(feed["items"], texts, strict=True):
            assert shown == (item["text"]["value"] or "(stock description)")
        rejected = [
            item[kind]["gate"]
            for item in feed["items"]
            for kind in ("text", "image")
            if item[kind]["gate"] is not None and not item[kind]["gate"]["passed"]
        ]
        assert len(driver.find_elements(By.CSS_SELECTOR, '[data-gate="reject"]')) == len(rejected)
        generated_images = driver.find_elements(
            By.CSS_SELECTOR, 'img[src^="/v1/assets/asset:image"]'
        )
        assert generated_images
        # Every image (generated PNGs and stock photos) really loaded from the API.
        WebDriverWait(driver, PAGE_TIMEOUT_S).until(
            lambda d: d.execute_script(
                "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"
            )
        )
        model_name = feed["items"][0]["text"]["provenance"]["model_name"]
        summaries = [
            s.get_attribute("textContent")
            for s in driver.find_elements(By.CSS_SELECTOR, "details[data-provenance] summary")
        ]
        assert sum(model_name in s for s in summaries) == len(cards)

        experiment = driver.find_element(
            By.CSS_SELECTOR, f'[data-experiment="{dash.experiment_id}"]'
        )
        assert "generated-vs-stock" in experiment.text
        assert len(experiment.find_elements(By.CSS_SELECTOR, "svg circle")) == 2
        models = driver.find_element(By.CSS_SELECTOR, 'table[data-table="models"]').text
        assert model_name in models

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(_full_page_png(driver))
    assert SCREENSHOT.stat().st_size > 50_000

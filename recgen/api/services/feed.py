"""The feed's hot path: one Redis round trip per request (a Lua script).

In one atomic call the script reads the user's feed, looks up the generated assets the arm wants
(text payloads, image existence), decides per item whether generated or stock content is shown,
appends the exposure entry for exactly what was decided to the exposure stream, and takes a
short per-user lock when something must be regenerated (so a hot user's misses enqueue one
generation job, not one per request). Doing this in Python would take three dependent round
trips (feed, assets, exposure log); the script keeps the serving path at one and makes
"what was shown" and "what was logged" the same decision.

The script reads the feed by the field names of :class:`recgen.core.keys.FeedPayload` (what
:meth:`recgen.generation.cache.StoredFeed.to_json` writes); a feed item's key is None when its gate
rejected the asset, which means stock content and no regeneration. The exposure entry it
appends is a :class:`recgen.core.keys.ExposureEntry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from recgen.api.redis_deadline import redis_call
from recgen.core import keys

_SERVE_SCRIPT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local feed = cjson.decode(raw)
-- ARGV[1]: the key prefix; ARGV[2]: "want|limit|user|experiment|arm|served_at|token|lock_ms|"
-- (one packed argument: redis-py spends more time encoding arguments than Redis running this)
local f = {}
for part in string.gmatch(ARGV[2], '([^|]*)|') do f[#f + 1] = part end
local prefix, want, limit, token = ARGV[1], f[1] == '1', tonumber(f[2]), f[7]
local out, logged, regen = {'', '', 0, 0, 0, 0, ''}, {}, {}
local hits = {0, 0, 0, 0}  -- text hit, text miss, image hit, image miss
for i, item in ipairs(feed['items']) do
  if i > limit then break end
  local pid = string.format('%d', item['product_id'])
  local eid = token .. '-' .. i
  local text, image, missing = '', '', false
  if want then
    local tk, ik = item['text_key'], item['image_key']
    if type(tk) == 'string' then
      local value = redis.call('GET', prefix .. tk)
      if value then text = value; hits[1] = hits[1] + 1
      else missing = true; hits[2] = hits[2] + 1 end
    end
    if type(ik) == 'string' then
      if redis.call('EXISTS', prefix .. ik) == 1 then image = ik; hits[3] = hits[3] + 1
      else missing = true; hits[4] = hits[4] + 1 end
    end
    if missing then table.insert(regen, pid) end
  end
  -- What was served, as the exposure records it: the asset keys shown, null for stock.
  local served = cjson.null
  if text ~= '' and image ~= '' then served = item['text_key'] .. ' ' .. image
  elseif text ~= '' then served = item['text_key']
  elseif image ~= '' then served = image end
  logged[#logged + 1] = {eid, pid, (served ~= cjson.null) and 'generated' or 'stock', served}
  -- Indexed stores, no per-item table: this loop is most of the script's CPU in Redis.
  local tg, ig, n = item['text_gate'], item['image_gate'], #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4] = pid, eid, text, image
  out[n + 5] = (type(tg) == 'table' and tg['passed'] == false) and 1 or 0
  out[n + 6] = (type(ig) == 'table' and ig['passed'] == false) and 1 or 0
end
if #logged > 0 then
  local entry = {u = f[3], e = f[4], a = f[5], t = tonumber(f[6]), i = logged}
  if f[4] == '' then entry['e'] = cjson.null end
  if f[5] == '' then entry['a'] = cjson.null end
  redis.call('XADD', KEYS[2], '*', 'v', cjson.encode(entry))
end
if #regen > 0 then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', f[8]) then regen = {} end
end
-- A flat reply (header, then 6 fields per item): RESP is cheaper than cjson for the texts.
out[1], out[2] = tostring(feed['generated_at']), cjson.encode(feed['model_versions'])
out[3], out[4], out[5], out[6] = hits[1], hits[2], hits[3], hits[4]
out[7] = table.concat(regen, ',')
return out
"""


_HEADER, _ITEM_FIELDS = 7, 6


class ServedItem(NamedTuple):  # a tuple: ~5x cheaper to build than a frozen dataclass
    product_id: int
    exposure_id: str
    text: str | None  # the generated description, None = stock
    image_key: str | None  # the generated image's cache key, None = stock
    text_rejected: bool
    image_rejected: bool


@dataclass(frozen=True, slots=True)
class ServedFeed:
    generated_at: float
    model_versions: dict[str, str]
    items: list[ServedItem]
    # Products whose generated assets were missing, when the script took the lock (for a
    # shared feed: its refresh claim).
    regenerate: list[int]
    lookups: tuple[int, int, int, int]  # text hit/miss, image hit/miss


class FeedReader:
    def __init__(
        self,
        client: aioredis.Redis[bytes],
        *,
        prefix: str,
        stream: str,
        timeout: float,
        regenerate_lock_ms: int = 60_000,
    ) -> None:
        self._namespace = keys.namespace(prefix)
        self._stream = stream
        self._lock_ms = str(regenerate_lock_ms)
        self._client = client
        # Each call's deadline (the client has no socket timeout: see redis_deadline).
        self._timeout = timeout
        self._script = client.register_script(_SERVE_SCRIPT)

    async def claim_refresh(self, user_id: int) -> bool:
        """True for the first caller in a lock period: only it enqueues a feed refresh."""
        key = self._namespace + keys.refresh_lock_key(user_id)
        claim = self._client.set(key, b"1", nx=True, px=int(self._lock_ms))
        return bool(await redis_call(claim, self._timeout))

    async def release_refresh(self, user_id: int) -> None:
        """Give up a claim that enqueued nothing (the key was over its budget)."""
        key = self._namespace + keys.refresh_lock_key(user_id)
        await redis_call(self._client.delete(key), self._timeout)

    async def log(self, entry: keys.ExposureEntry) -> None:
        """Append an exposure entry to the stream (a feed served without the script)."""
        add = self._client.xadd(self._stream, {"v": keys.EXPOSURE_ENTRY.dump_json(entry)})
        await redis_call(add, self._timeout)

    def feed_key(self, user_id: int) -> str:
        return self._namespace + keys.feed_key(user_id)

    async def serve(
        self,
        *,
        user_id: int,
        limit: int,
        want_generated: bool,
        experiment_id: int | None,
        arm: str | None,
        served_at: float,
        token: str,
        feed_of: int | None = None,
    ) -> ServedFeed | None:
        """Serve the user's feed and log it as theirs; None when it is not in the cache.

        ``feed_of``: serve that user's feed instead (the shared cold-start feed of
        :data:`~recgen.core.keys.COLD_START_USER`). A missing asset then takes that feed's
        refresh claim, not this user's regeneration lock: what is queued is the one shared
        refresh, never work for this user.
        """
        user = int(user_id)
        if feed_of is None:
            feed, lock = self.feed_key(user), keys.regenerate_lock_key(user)
        else:
            feed, lock = self.feed_key(feed_of), keys.refresh_lock_key(feed_of)
        script = self._script(
            keys=[feed, self._stream, self._namespace + lock],
            args=[
                self._namespace,
                f"{'1' if want_generated else '0'}|{limit}|{user}|"
                f"{'' if experiment_id is None else experiment_id}|{arm or ''}|{served_at!r}|"
                f"{token}|{self._lock_ms}|",
            ],
        )
        raw: Any = await redis_call(script, self._timeout)
        if raw is None:
            return None
        header = raw[:_HEADER]
        fields = iter(raw[_HEADER:])  # 6 fields per item: zip takes them in turn
        items = [
            ServedItem(
                int(pid),
                eid.decode(),
                text.decode() or None,
                image.decode() or None,
                bool(text_rejected),
                bool(image_rejected),
            )
            for pid, eid, text, image, text_rejected, image_rejected in zip(
                *[fields] * _ITEM_FIELDS, strict=True
            )
        ]
        return ServedFeed(
            generated_at=float(header[0]),
            # The feed's own model_versions, as cjson encoded them again (an empty one as {}).
            model_versions=keys.MODEL_VERSIONS.validate_json(header[1]),
            items=items,
            regenerate=[int(p) for p in header[6].split(b",") if p],
            lookups=(int(header[2]), int(header[3]), int(header[4]), int(header[5])),
        )

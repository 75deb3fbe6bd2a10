"""Assignment of users to arms: a pure function of (salt, user id).

No lookup on the serving path, the same arm on every server, and stable for a user as long as
the experiment's weights and traffic share do not change. Two independent hashes decide "in the
experiment?" (traffic share) and "which arm?" (weights), so widening the traffic share only adds
users; nobody already in changes arm. QA users can be forced into an arm; their exposures are
kept out of the report.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

from recgen.core.types import ARMS, ExperimentConfig

_SCALE = float(2**64)


# Arm weights are relative; bounded so that their sum stays finite (1e308 + 1e308 is inf, and
# every user then hashed into one arm).
MAX_ARM_WEIGHT = 1e6


def validate_arms(arms: Mapping[str, float]) -> dict[str, float]:
    """Arms must be a subset of ARMS with at least two arms and positive weights."""
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; arms are {list(ARMS)}")
    if len(arms) < 2:
        raise ValueError(f"an experiment needs both arms {list(ARMS)}")
    for name, weight in arms.items():
        if not (0 < weight <= MAX_ARM_WEIGHT and math.isfinite(weight)):
            raise ValueError(
                f"weight of arm {name!r} must be a number in (0, {MAX_ARM_WEIGHT:g}], got {weight}"
            )
    # Sorted so the bucket boundaries never depend on the order a client sent the arms in.
    return {name: float(arms[name]) for name in sorted(arms)}


def unit_hash(salt: str, purpose: str, user_id: int) -> float:
    """A uniform number in [0, 1) from (salt, purpose, user id); sha256, so salts decorrelate."""
    digest = hashlib.sha256(f"{salt}:{purpose}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign(config: ExperimentConfig, user_id: int) -> str | None:
    """The user's arm, or None when the user falls outside the traffic share."""
    forced = config.forced.get(user_id)
    if forced is not None:
        return forced
    if unit_hash(config.salt, "traffic", user_id) >= config.traffic_share:
        return None
    point = unit_hash(config.salt, "arm", user_id) * sum(w for _, w in config.arms)
    cumulative = 0.0
    for name, weight in config.arms:
        cumulative += weight
        if point < cumulative:
            return name
    return config.arms[-1][0]

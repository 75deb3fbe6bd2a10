"""A/B experiments of generated against stock content: assignment and the report.

Assignment is a pure function of (salt, user id): no lookup on the serving path, the same arm on
every server, and stable for a user as long as the experiment's weights and traffic share do
not change. Two independent hashes decide "in the experiment?" (traffic share) and "which arm?"
(weights), so widening the traffic share only adds users; nobody already in changes arm.
QA users can be forced into an arm; their exposures are kept out of the report.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from recgen.abstats import (
    Lift,
    RatioEstimate,
    cuped,
    ratio_estimate,
    relative_lift,
    srm_check,
)

Content = Literal["generated", "stock"]
# The thing under test is the content itself, so arms are named after what they show.
ARMS: tuple[Content, ...] = ("stock", "generated")
CONTROL_ARM: Content = "stock"
# Outcome kinds counted per exposure (an exposure counts once however many clicks it got).
OUTCOMES = (("ctr", "click"), ("add_to_cart_rate", "add_to_cart"), ("conversion_rate", "purchase"))
_SCALE = float(2**64)


@dataclass(frozen=True, slots=True)
class ExperimentConfig:
    """What assignment needs to know about one experiment (immutable snapshot)."""

    experiment_id: int
    name: str
    salt: str
    traffic_share: float
    arms: tuple[tuple[str, float], ...]
    status: str = "running"
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    forced: Mapping[int, str] = field(default_factory=dict)

    @property
    def weights(self) -> dict[str, float]:
        return dict(self.arms)


def validate_arms(arms: Mapping[str, float]) -> dict[str, float]:
    """Arms must be a subset of ARMS with at least two arms and positive weights."""
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; arms are {list(ARMS)}")
    if len(arms) < 2:
        raise ValueError(f"an experiment needs both arms {list(ARMS)}")
    for name, weight in arms.items():
        if not (weight > 0 and math.isfinite(weight)):
            raise ValueError(f"weight of arm {name!r} must be a positive number, got {weight}")
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


@dataclass(frozen=True)
class UserOutcomes:
    """Per-user sums for one experiment: the input of the report (from SQL or a simulation)."""

    arms: npt.NDArray[np.str_]
    exposures: npt.NDArray[np.float64]
    outcomes: dict[str, npt.NDArray[np.float64]]  # kind -> exposures with that outcome
    pre_period: npt.NDArray[np.float64]  # covariate for CUPED (pre-period clicks)

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> UserOutcomes:
        """Rows with keys arm, exposures, click, add_to_cart, purchase, pre_clicks."""
        return cls(
            arms=np.array([r["arm"] for r in rows], dtype=np.str_),
            exposures=np.array([r["exposures"] for r in rows], dtype=np.float64),
            outcomes={
                kind: np.array([r[kind] for r in rows], dtype=np.float64) for _, kind in OUTCOMES
            },
            pre_period=np.array([r["pre_clicks"] for r in rows], dtype=np.float64),
        )


def _interval(est: RatioEstimate, level: float) -> dict[str, float]:
    low, high = est.interval(level)
    return {"value": est.value, "ci_low": low, "ci_high": high, "se": est.se}


def _lift_dict(lift: Lift) -> dict[str, float]:
    return {
        "lift": lift.lift,
        "ci_low": lift.ci_low,
        "ci_high": lift.ci_high,
        "p_value": lift.p_value,
        "absolute": lift.absolute,
    }


def build_report(
    config: ExperimentConfig, data: UserOutcomes, *, level: float = 0.95
) -> dict[str, Any]:
    """Per-arm counts and rates with intervals, lifts against stock, SRM and CUPED."""
    arms: dict[str, Any] = {}
    estimates: dict[str, dict[str, RatioEstimate]] = {}
    masks = {name: data.arms == name for name, _ in config.arms}
    for name, mask in masks.items():
        x = data.exposures[mask]
        estimates[name] = {
            metric: ratio_estimate(data.outcomes[kind][mask], x) for metric, kind in OUTCOMES
        }
        arms[name] = {
            "users": int(mask.sum()),
            "exposures": int(x.sum()),
            **{kind: int(data.outcomes[kind][mask].sum()) for _, kind in OUTCOMES},
            **{m: _interval(e, level) for m, e in estimates[name].items()},
        }
    comparisons: dict[str, Any] = {}
    control = masks[CONTROL_ARM]
    for name, mask in masks.items():
        if name == CONTROL_ARM:
            continue
        comparison = {
            metric: _lift_dict(
                relative_lift(estimates[name][metric], estimates[CONTROL_ARM][metric], level)
            )
            for metric, _ in OUTCOMES
        }
        if mask.sum() > 1 and control.sum() > 1 and data.exposures[control].sum() > 0:
            adjusted = cuped(
                (data.outcomes["click"][mask], data.exposures[mask], data.pre_period[mask]),
                (
                    data.outcomes["click"][control],
                    data.exposures[control],
                    data.pre_period[control],
                ),
                level,
            )
            comparison["ctr_cuped"] = {
                **_lift_dict(adjusted.lift),
                "theta": adjusted.theta,
                "variance_reduction": adjusted.variance_reduction,
            }
        comparisons[name] = comparison
    srm = srm_check({n: arms[n]["users"] for n in masks}, config.weights)
    report: dict[str, Any] = _json_safe(
        {
            "experiment": {
                "id": config.experiment_id,
                "name": config.name,
                "status": config.status,
                "traffic_share": config.traffic_share,
                "arms": config.weights,
                "started_at": config.started_at.isoformat() if config.started_at else None,
                "stopped_at": config.stopped_at.isoformat() if config.stopped_at else None,
            },
            "level": level,
            "control": CONTROL_ARM,
            "arms": arms,
            "comparisons": comparisons,
            "srm": {
                "chi2": srm.chi2,
                "p_value": srm.p_value,
                "flagged": srm.flagged,
                "observed": srm.observed,
                "expected": srm.expected,
            },
        }
    )
    return report


def _json_safe(value: Any) -> Any:
    """NaN (an arm with no data) is not JSON: report it as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value

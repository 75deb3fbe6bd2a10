"""The A/B report: per-user outcome sums in, ratio metrics with CUPED, relative lifts with
confidence intervals and the sample-ratio check out. The same function reads an experiment
from SQL and a simulation from memory."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recgen.core.types import CONTROL_ARM, ExperimentConfig
from recgen.experiments.stats import (
    Lift,
    RatioEstimate,
    cuped,
    ratio_estimate,
    relative_lift,
    srm_check,
)

# Outcome kinds counted per exposure (an exposure counts once however many clicks it got).
OUTCOMES = (("ctr", "click"), ("add_to_cart_rate", "add_to_cart"), ("conversion_rate", "purchase"))


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
    masks = {name: data.arms == name for name, _ in config.arms}
    estimates = {
        name: {metric: ratio_estimate(data.outcomes[kind][mask], data.exposures[mask])
               for metric, kind in OUTCOMES}
        for name, mask in masks.items()
    }
    arms: dict[str, dict[str, Any]] = {
        name: {
            "users": int(mask.sum()),
            "exposures": int(data.exposures[mask].sum()),
            **{kind: int(data.outcomes[kind][mask].sum()) for _, kind in OUTCOMES},
            **{m: _interval(e, level) for m, e in estimates[name].items()},
        }
        for name, mask in masks.items()
    }
    comparisons = {
        name: _comparison(data, estimates, mask, masks[CONTROL_ARM], name, level)
        for name, mask in masks.items()
        if name != CONTROL_ARM
    }
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


def _comparison(
    data: UserOutcomes,
    estimates: Mapping[str, Mapping[str, RatioEstimate]],
    mask: npt.NDArray[np.bool_],
    control: npt.NDArray[np.bool_],
    name: str,
    level: float,
) -> dict[str, Any]:
    """One arm against the control: the lift of every metric, and CUPED on the CTR."""
    comparison: dict[str, Any] = {
        metric: _lift_dict(
            relative_lift(estimates[name][metric], estimates[CONTROL_ARM][metric], level)
        )
        for metric, _ in OUTCOMES
    }
    if mask.sum() > 1 and control.sum() > 1 and data.exposures[control].sum() > 0:
        adjusted = cuped(
            (data.outcomes["click"][mask], data.exposures[mask], data.pre_period[mask]),
            (data.outcomes["click"][control], data.exposures[control], data.pre_period[control]),
            level,
        )
        comparison["ctr_cuped"] = {
            **_lift_dict(adjusted.lift),
            "theta": adjusted.theta,
            "variance_reduction": adjusted.variance_reduction,
        }
    return comparison


def _json_safe(value: Any) -> Any:
    """NaN (an arm with no data) is not JSON: report it as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value

"""Statistics for A/B reports: ratio metrics, relative lift, sample-ratio mismatch, CUPED.

The randomization unit is the user, but rates (CTR, add-to-cart, conversion) are per exposure:
a user who sees ten items contributes ten correlated trials. Treating exposures as independent
Bernoulli trials understates the variance, so every rate here is a ratio of per-user sums
(``sum(y) / sum(x)``) with a delta-method variance over users (Deng et al., "Applying the delta
method in metric analytics", 2018). With one exposure per user it reduces exactly to the Wald
binomial interval; with several it equals the cluster-robust (CR0) standard error of an OLS
regression of the per-exposure outcome on an intercept, clustered by user. The tests check both
against statsmodels.

Relative lift is ``R_t / R_c - 1`` with its interval and two-sided p-value from the log ratio
(same z for both, so the interval excludes 0 exactly when p < 1 - level).

CUPED (Deng et al., WSDM 2013) applies to the linearized per-user metric
``L_u = R + (y_u - R x_u) / mean(x)`` whose mean is R and whose variance is the delta-method one;
the adjustment uses the pooled within-arm slope on a pre-period covariate, so the adjusted
difference equals the treatment coefficient of OLS ``L ~ treat + covariate``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

Array = npt.NDArray[np.float64]

# Flag SRM only on strong evidence: the check runs on every report refresh, and a looser
# threshold would cry wolf on healthy experiments.
SRM_ALPHA = 0.001


@dataclass(frozen=True, slots=True)
class RatioEstimate:
    """A ratio metric sum(y)/sum(x) over users with its delta-method standard error."""

    value: float
    se: float
    numerator: float
    denominator: float
    units: int

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        z = _z(level)
        return self.value - z * self.se, self.value + z * self.se


@dataclass(frozen=True, slots=True)
class Lift:
    """Relative lift of treatment over control, its interval and two-sided p-value."""

    lift: float
    ci_low: float
    ci_high: float
    p_value: float
    absolute: float


@dataclass(frozen=True, slots=True)
class SrmResult:
    chi2: float
    p_value: float
    flagged: bool
    observed: dict[str, int]
    expected: dict[str, float]


@dataclass(frozen=True, slots=True)
class CupedResult:
    """CUPED-adjusted arm means of a ratio metric, their lift, and the variance reduction."""

    theta: float
    control: float
    treatment: float
    lift: Lift
    variance_reduction: float


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(0.5 + level / 2.0))


def _as_array(values: Sequence[float] | Array) -> Array:
    return np.asarray(values, dtype=np.float64)


def ratio_estimate(y: Sequence[float] | Array, x: Sequence[float] | Array) -> RatioEstimate:
    """sum(y)/sum(x) over users; delta-method SE with population (ddof=0) moments."""
    ya, xa = _as_array(y), _as_array(x)
    if ya.shape != xa.shape:
        raise ValueError("numerator and denominator must have one value per user")
    n = len(xa)
    total_x = float(xa.sum())
    if n == 0 or total_x <= 0:
        return RatioEstimate(math.nan, math.nan, float(ya.sum()), total_x, n)
    ratio = float(ya.sum()) / total_x
    residual = ya - ratio * xa
    se = math.sqrt(float(np.dot(residual, residual))) / total_x
    return RatioEstimate(ratio, se, float(ya.sum()), total_x, n)


def _log_ratio_lift(
    treat: float, treat_se: float, control: float, control_se: float, level: float
) -> Lift:
    absolute = treat - control
    if not (treat > 0 and control > 0):
        return Lift(math.nan, math.nan, math.nan, math.nan, absolute)
    log_ratio = math.log(treat / control)
    se = math.sqrt((treat_se / treat) ** 2 + (control_se / control) ** 2)
    if se == 0:
        return Lift(math.expm1(log_ratio), math.nan, math.nan, math.nan, absolute)
    z = _z(level)
    p_value = float(2.0 * stats.norm.sf(abs(log_ratio) / se))
    return Lift(
        lift=math.expm1(log_ratio),
        ci_low=math.expm1(log_ratio - z * se),
        ci_high=math.expm1(log_ratio + z * se),
        p_value=p_value,
        absolute=absolute,
    )


def relative_lift(treat: RatioEstimate, control: RatioEstimate, level: float = 0.95) -> Lift:
    """Lift R_t/R_c - 1 with a log-ratio delta-method interval (arms are independent)."""
    return _log_ratio_lift(treat.value, treat.se, control.value, control.se, level)


def srm_check(
    observed: Mapping[str, int], weights: Mapping[str, float], alpha: float = SRM_ALPHA
) -> SrmResult:
    """Chi-square goodness of fit of users per arm against the configured arm weights."""
    arms = list(weights)
    counts = np.array([observed.get(arm, 0) for arm in arms], dtype=np.float64)
    total_weight = float(sum(weights.values()))
    expected = counts.sum() * np.array([weights[a] / total_weight for a in arms])
    chi2, p_value = 0.0, 1.0
    if counts.sum() > 0 and len(arms) >= 2:
        result = stats.chisquare(counts, expected)
        chi2, p_value = float(result.statistic), float(result.pvalue)
    return SrmResult(
        chi2=chi2,
        p_value=p_value,
        flagged=p_value < alpha,
        observed={a: int(c) for a, c in zip(arms, counts, strict=True)},
        expected={a: float(e) for a, e in zip(arms, expected, strict=True)},
    )


def linearize(y: Sequence[float] | Array, x: Sequence[float] | Array) -> Array:
    """Per-user linearized ratio metric: its mean is the ratio, its variance the delta one."""
    ya, xa = _as_array(y), _as_array(x)
    ratio = float(ya.sum()) / float(xa.sum())
    return np.asarray(ratio + (ya - ratio * xa) / float(xa.mean()), dtype=np.float64)


def cuped(
    treatment: tuple[Array, Array, Array],
    control: tuple[Array, Array, Array],
    level: float = 0.95,
) -> CupedResult:
    """CUPED on a ratio metric; each arm is (y per user, x per user, pre-period covariate)."""
    lin_t, lin_c = linearize(treatment[0], treatment[1]), linearize(control[0], control[1])
    cov_t, cov_c = _as_array(treatment[2]), _as_array(control[2])
    # Pooled within-arm slope: makes the adjusted difference equal the OLS treatment effect.
    dz_t, dz_c = cov_t - cov_t.mean(), cov_c - cov_c.mean()
    sxx = float(np.dot(dz_t, dz_t) + np.dot(dz_c, dz_c))
    sxy = float(np.dot(dz_t, lin_t - lin_t.mean()) + np.dot(dz_c, lin_c - lin_c.mean()))
    theta = sxy / sxx if sxx > 0 else 0.0
    grand = float(np.concatenate([cov_t, cov_c]).mean())

    def adjusted(lin: Array, cov: Array) -> tuple[float, float, float]:
        mean = float(lin.mean()) - theta * (float(cov.mean()) - grand)
        se = float(np.std(lin - theta * cov)) / math.sqrt(len(lin))
        raw_se = float(np.std(lin)) / math.sqrt(len(lin))
        return mean, se, raw_se

    mean_t, se_t, raw_t = adjusted(lin_t, cov_t)
    mean_c, se_c, raw_c = adjusted(lin_c, cov_c)
    raw_var = raw_t**2 + raw_c**2
    reduction = 1.0 - (se_t**2 + se_c**2) / raw_var if raw_var > 0 else 0.0
    return CupedResult(
        theta=theta,
        control=mean_c,
        treatment=mean_t,
        lift=_log_ratio_lift(mean_t, se_t, mean_c, se_c, level),
        variance_reduction=reduction,
    )

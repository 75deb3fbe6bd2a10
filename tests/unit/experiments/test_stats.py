"""The A/B statistics agree with scipy/statsmodels reference computations."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats import proportion as smp

from recgen.experiments.stats import cuped, ratio_estimate, relative_lift, srm_check


def test_one_exposure_per_user_is_the_wald_binomial_interval() -> None:
    clicks = np.array([1.0] * 37 + [0.0] * 463)
    est = ratio_estimate(clicks, np.ones_like(clicks))
    low, high = est.interval()
    ref_low, ref_high = smp.proportion_confint(37, 500, alpha=0.05, method="normal")
    assert est.value == pytest.approx(37 / 500)
    assert (low, high) == pytest.approx((ref_low, ref_high), rel=1e-12)


def test_lift_matches_statsmodels_log_ratio() -> None:
    t = np.array([1.0] * 130 + [0.0] * 870)
    c = np.array([1.0] * 100 + [0.0] * 900)
    lift = relative_lift(ratio_estimate(t, np.ones_like(t)), ratio_estimate(c, np.ones_like(c)))
    ref = smp.test_proportions_2indep(130, 1000, 100, 1000, compare="ratio", method="log")
    ref_low, ref_high = smp.confint_proportions_2indep(
        130, 1000, 100, 1000, compare="ratio", method="log"
    )
    assert lift.lift == pytest.approx(0.3)
    assert lift.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (lift.ci_low, lift.ci_high) == pytest.approx((ref_low - 1, ref_high - 1), rel=1e-9)


def test_ratio_se_equals_cluster_robust_ols() -> None:
    rng = np.random.default_rng(3)
    users = 400
    exposures = rng.integers(1, 12, size=users)
    propensity = rng.beta(2, 10, size=users)  # users differ: clicks are clustered
    clicks = rng.binomial(exposures, propensity)
    est = ratio_estimate(clicks, exposures)
    # Expand to one row per exposure and regress the click indicator on an intercept.
    y = np.concatenate(
        [np.r_[np.ones(k), np.zeros(n - k)] for k, n in zip(clicks, exposures, strict=True)]
    )
    groups = np.repeat(np.arange(users), exposures)
    fit = sm.OLS(y, np.ones_like(y)).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    assert est.value == pytest.approx(fit.params[0], rel=1e-12)
    assert est.se == pytest.approx(fit.bse[0], rel=1e-9)
    # The naive binomial SE ignores clustering and is too small here.
    naive = np.sqrt(est.value * (1 - est.value) / exposures.sum())
    assert naive < est.se


def test_srm_matches_scipy_and_flags_a_52_48_split() -> None:
    result = srm_check({"stock": 52_000, "generated": 48_000}, {"stock": 0.5, "generated": 0.5})
    chi2, p = stats.chisquare([52_000, 48_000], [50_000, 50_000])
    assert result.chi2 == pytest.approx(chi2)
    assert result.p_value == pytest.approx(p)
    assert result.flagged
    healthy = srm_check({"stock": 50_100, "generated": 49_900}, {"stock": 0.5, "generated": 0.5})
    assert not healthy.flagged


def test_srm_respects_unequal_weights() -> None:
    result = srm_check({"a": 8_000, "b": 2_000}, {"a": 0.8, "b": 0.2})
    assert result.chi2 == pytest.approx(0.0)
    assert not result.flagged


def test_cuped_difference_equals_ols_treatment_coefficient() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    pre = rng.poisson(3.0, size=2 * n).astype(float)  # pre-period clicks
    exposures = rng.integers(1, 10, size=2 * n).astype(float)
    treat = np.r_[np.ones(n), np.zeros(n)]
    p = np.clip(0.05 + 0.02 * pre + 0.02 * treat, 0, 1)
    clicks = rng.binomial(exposures.astype(int), p).astype(float)
    t, c = slice(0, n), slice(n, 2 * n)
    result = cuped((clicks[t], exposures[t], pre[t]), (clicks[c], exposures[c], pre[c]))

    from recgen.experiments.stats import linearize

    lin = np.r_[linearize(clicks[t], exposures[t]), linearize(clicks[c], exposures[c])]
    design = sm.add_constant(np.column_stack([treat, pre]))
    fit = sm.OLS(lin, design).fit(cov_type="HC0")
    assert result.treatment - result.control == pytest.approx(fit.params[1], rel=1e-9)
    assert result.theta == pytest.approx(fit.params[2], rel=1e-9)
    # The covariate predicts clicks, so the adjustment must shrink the variance.
    assert result.variance_reduction > 0.05
    # Adjusted SE of the difference agrees with the heteroskedasticity-robust OLS SE.
    raw = relative_lift(
        ratio_estimate(clicks[t], exposures[t]), ratio_estimate(clicks[c], exposures[c])
    )
    assert result.lift.ci_high - result.lift.ci_low < raw.ci_high - raw.ci_low
    se_diff = np.sqrt(
        np.var(linearize(clicks[t], exposures[t]) - result.theta * pre[t]) / n
        + np.var(linearize(clicks[c], exposures[c]) - result.theta * pre[c]) / n
    )
    assert se_diff == pytest.approx(fit.bse[1], rel=0.02)

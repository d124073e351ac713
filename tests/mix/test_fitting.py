"""Variable projection: exact recovery without noise, tied exponents, the log fallback, 1-D power law."""

import numpy as np
import pytest

from curator.errors import RunError
from curator.mix.fitting import fit_power_1d, fit_tied, r_squared


def test_recovers_a_tied_two_term_law_exactly():
    t = np.linspace(0.05, 1, 15)
    coefs = [(0.2, -0.1, 0.01), (0.3, -0.15, 0.0), (0.1, -0.02, 0.02)]
    ys = [a * t**0.3 + b * t**1.2 + c for a, b, c in coefs]
    fit = fit_tied([t] * 3, ys, ("pow", "pow"), "test")
    assert np.allclose(fit.exponents, [0.3, 1.2], atol=1e-3)
    assert np.allclose(fit.coefs, coefs, atol=1e-3)
    assert fit.predict(t, 1) == pytest.approx(ys[1], abs=1e-6)


def test_log_law_fallback_when_the_exponent_sinks_to_its_bound():
    t = np.linspace(0.05, 1, 15)
    fit = fit_tied([t, t], [-0.2 * np.log(t) + 1, -0.1 * np.log(t)], ("pow",), "test")
    assert fit.terms == ("log",) and "log law" in fit.message
    assert fit.coefs[0] == pytest.approx([-0.2, 1.0], abs=1e-6)


def test_too_few_points_is_a_run_error():
    with pytest.raises(RunError, match="too few"):
        fit_tied([np.array([0.5, 1.0])], [np.array([1.0, 2.0])], ("pow", "pow"), "general law")


def test_fit_power_1d_and_r_squared():
    x = np.array([0.1, 0.25, 0.4, 0.6, 0.8])
    a, s, b = fit_power_1d(x, 0.13 * x**1.2 + 0.004)
    assert (a, s, b) == pytest.approx((0.13, 1.2, 0.004), abs=0.01)
    assert r_squared(x, x) == 1.0 and r_squared(x, x + 1) < 0


def test_a_fit_that_does_not_converge_says_so(monkeypatch):
    from types import SimpleNamespace

    from curator.mix import dml, fitting

    def stuck(fun, x0, **kw):
        return SimpleNamespace(x=np.asarray(x0, float), fun=fun(x0), status=0, cost=np.inf, message="stuck")

    monkeypatch.setattr(fitting, "least_squares", stuck)
    t = np.linspace(0.1, 1, 8)
    with pytest.raises(RunError, match="domain law: the fit did not converge \\(stuck\\)"):
        fit_tied([t], [t**0.5], ("pow",), "domain law")
    monkeypatch.setattr(dml, "least_squares", stuck)
    w = np.random.default_rng(0).dirichlet(np.ones(3), 10)
    with pytest.raises(RunError, match="did not converge from any of 12 starts"):
        dml.fit(w, w[:, 0], what="dml")

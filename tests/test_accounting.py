"""FLOP / parameter accounting and the sensitivity of the exponents to it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.evaluate import accounting
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.laws.simulate import chinchilla_loss


def ladder() -> pd.DataFrame:
    """IsoFLOP ladder of real-shaped transformers, losses from the paper's law."""
    d_model = np.array([512, 640, 768, 1024, 1280, 1536, 2048, 2560])
    n_layers = d_model // 64
    params = 12.0 * n_layers * d_model**2 + 32000 * d_model
    rows = []
    for budget in (1e19, 3e19, 1e20, 3e20):
        tokens = budget / (6 * params)
        loss = chinchilla_loss(closed_forms.PAPER_PARAMS, params, tokens)
        rows.append(
            pd.DataFrame(
                dict(
                    params=params,
                    tokens=tokens,
                    loss=np.asarray(loss),
                    d_model=d_model,
                    n_layers=n_layers,
                    n_heads=d_model // 64,
                    key_size=64,
                    vocab=32000,
                    seq_len=2048,
                )
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_formulas():
    assert accounting.flops_6nd(2.0, 3.0) == 36.0
    assert accounting.non_embedding_params(n_layers=2, d_model=10) == 2400.0
    assert accounting.non_embedding_params(params=1000.0, vocab=10, d_model=5) == 950.0
    # Appendix F for a wide model is close to 6ND on its non-embedding parameters.
    d, layers, s, v = 8192, 64, 2048, 32000
    per_token = accounting.appendix_f_flops(
        1.0, d_model=d, n_layers=layers, n_heads=64, key_size=128, vocab=v, seq_len=s
    )
    n = 12 * layers * d**2
    assert 1.0 < per_token / (6 * n) < 1.1
    with pytest.raises(DataError):
        accounting.non_embedding_params(d_model=5)


def test_sensitivity_report_moves_a():
    frame = ladder()
    assert accounting.available_accountings(frame) == ["6nd", "appendix_f", "non_embedding"]
    rows = accounting.sensitivity_report(frame, nominal=None, approaches=("2",))
    by_name = {r["accounting"]: r for r in rows}
    assert by_name["6nd"]["approach2"]["delta_a"] == 0.0
    true_a = float(
        closed_forms.CHINCHILLA.frontier(
            closed_forms.CHINCHILLA.from_params(closed_forms.PAPER_PARAMS)
        ).a
    )
    assert by_name["6nd"]["approach2"]["a"] == pytest.approx(true_a, abs=0.03)
    assert by_name["appendix_f"]["mean_flops_ratio_to_6nd"] > 1.0
    assert abs(by_name["non_embedding"]["approach2"]["delta_a"]) > 1e-3
    assert "appendix_f" in accounting.format_sensitivity(rows)
    with pytest.raises(DataError, match="accounting"):
        accounting.account(frame[["params", "tokens", "loss"]], "appendix_f")

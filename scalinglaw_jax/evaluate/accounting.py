"""FLOP and parameter accounting, and how the fitted exponents move between accountings.

Accountings (names used by ``sensitivity_report``):

* ``"6nd"``: ``C = 6 N D`` (the default everywhere).
* ``"logged"``: FLOPs as logged in the table's own column.
* ``"appendix_f"``: Hoffmann et al. (2022), Appendix F. Forward FLOPs per sequence of ``s``
  tokens, with ``h = n_heads * key_size``, ``f`` the feed-forward width (default
  ``4 d_model``) and ``V`` the vocabulary: embeddings ``2 s V d``; per layer the Q/K/V
  projections ``2 * 3 s d h``, the logits ``2 s^2 h``, the softmax ``3 n_heads s^2``, the
  attention reduction ``2 s^2 h``, the output projection ``2 s h d`` and the dense block
  ``4 s d f``; final logits ``2 s d V``. The backward pass costs twice the forward, so training
  FLOPs per token are ``3 * forward / s``, times ``D`` tokens.
* ``"non_embedding"``: Kaplan et al.'s (2020) convention, ``N`` = non-embedding parameters
  ``2 n_layers d_model (2 d_attn + f)`` (``12 n_layers d_model^2`` for ``d_attn = d_model``,
  ``f = 4 d_model``), with ``C = 6 N D``; or ``params - vocab * d_model`` when only the
  embedding size is known.

Approach 2 uses the accounted FLOPs directly (each IsoFLOP group keeps its rows; its budget is
the geometric mean of their accounted FLOPs). Approach 3 uses the accounted ``N`` and reads its
frontier in closed form, which assumes ``C = 6 N D``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import gmean

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.approaches.isoflop import assign_budgets
from scalinglaw_jax.approaches.spec import ApproachOptions
from scalinglaw_jax.core.data import DataError, load_runs

ARCH_COLUMNS = ("d_model", "n_layers", "n_heads", "key_size", "vocab", "seq_len")
"""Architecture columns used by the Appendix-F formula (``ffw_size`` optional)."""


def flops_6nd(params, tokens):
    """``6 N D``: forward plus backward multiply-adds of the parameter matmuls."""
    return 6.0 * np.asarray(params, dtype=float) * np.asarray(tokens, dtype=float)


def appendix_f_flops(
    tokens, *, d_model, n_layers, n_heads, key_size, vocab, seq_len, ffw_size=None
):
    """Training FLOPs by Hoffmann et al.'s Appendix F (see the module docstring)."""
    d, s, v = (np.asarray(x, dtype=float) for x in (d_model, seq_len, vocab))
    heads = np.asarray(n_heads, dtype=float)
    h = heads * np.asarray(key_size, dtype=float)
    f = 4.0 * d if ffw_size is None else np.asarray(ffw_size, dtype=float)
    attention = (
        2 * 3 * s * d * h + 2 * s * s * h + 3 * heads * s * s + 2 * s * s * h + 2 * s * h * d
    )
    dense = 4.0 * s * d * f
    forward = (
        2 * s * v * d + np.asarray(n_layers, dtype=float) * (attention + dense) + 2 * s * d * v
    )
    return 3.0 * forward / s * np.asarray(tokens, dtype=float)


def non_embedding_params(*, n_layers=None, d_model=None, ffw_size=None, params=None, vocab=None):
    """Kaplan's non-embedding parameter count: from the layer shapes, else ``params - V d``."""
    if n_layers is not None and d_model is not None:
        d = np.asarray(d_model, dtype=float)
        f = 4.0 * d if ffw_size is None else np.asarray(ffw_size, dtype=float)
        return 2.0 * np.asarray(n_layers, dtype=float) * d * (2.0 * d + f)
    if params is not None and vocab is not None and d_model is not None:
        return np.asarray(params, dtype=float) - np.asarray(vocab, dtype=float) * np.asarray(
            d_model, dtype=float
        )
    raise DataError("non-embedding parameters need n_layers and d_model, or params, vocab, d_model")


def _architecture(frame: pd.DataFrame) -> dict:
    kwargs = {name: frame[name].to_numpy(float) for name in ARCH_COLUMNS}
    if "ffw_size" in frame:
        kwargs["ffw_size"] = frame["ffw_size"].to_numpy(float)
    return kwargs


def available_accountings(frame: pd.DataFrame) -> list[str]:
    """The accountings a canonical-column table supports (``params``, ``tokens``/``flops``...)."""
    names = ["6nd"]
    if "flops" in frame and "tokens" in frame:
        names.append("logged")
    if "tokens" in frame and all(c in frame for c in ARCH_COLUMNS):
        names.append("appendix_f")
    if ("n_layers" in frame and "d_model" in frame) or ("vocab" in frame and "d_model" in frame):
        names.append("non_embedding")
    return names


def account(frame: pd.DataFrame, accounting: str) -> pd.DataFrame:
    """A ``params, tokens, flops, loss`` table under ``accounting``.

    ``frame`` has canonical column names; tokens are taken from it, or derived as
    ``flops / (6 params)`` when only logged FLOPs are given.
    """
    if accounting not in available_accountings(frame):
        raise DataError(
            f"accounting {accounting!r} needs columns this table lacks; available: "
            f"{available_accountings(frame)}"
        )
    params = frame["params"].to_numpy(float)
    tokens = (
        frame["tokens"].to_numpy(float)
        if "tokens" in frame
        else frame["flops"].to_numpy(float) / (6.0 * params)
    )
    if accounting == "logged":
        flops = frame["flops"].to_numpy(float)
    elif accounting == "appendix_f":
        flops = appendix_f_flops(tokens, **_architecture(frame))
    elif accounting == "non_embedding":
        params = non_embedding_params(
            n_layers=frame.get("n_layers"),
            d_model=frame.get("d_model"),
            ffw_size=frame.get("ffw_size"),
            params=params,
            vocab=frame.get("vocab"),
        )
        flops = flops_6nd(params, tokens)
    else:
        flops = flops_6nd(params, tokens)
    loss = frame["loss"].to_numpy(float)
    return pd.DataFrame({"params": params, "tokens": tokens, "flops": flops, "loss": loss})


def sensitivity_report(
    frame: pd.DataFrame,
    accountings: Sequence[str] | None = None,
    *,
    nominal: Sequence[float] | None = None,
    starts="chinchilla",
    approaches: Sequence[str] = ("2", "3"),
    isoflop_options: Mapping | None = None,
) -> list[dict]:
    """Fit Approaches 2 and/or 3 under each accounting; one dict per accounting.

    IsoFLOP groups come from the table's 6ND (or logged) FLOPs once (``nominal`` budgets, else
    gap clustering) and are kept under every accounting, so only the accounting changes.
    Each dict holds ``a`` and ``b`` per approach and ``delta_a`` against the first accounting.
    """
    accountings = list(accountings or available_accountings(frame))
    base = account(frame, accountings[0])
    groups = assign_budgets(base["flops"].to_numpy(), nominal=nominal, **(isoflop_options or {}))
    rows = []
    for name in accountings:
        runs = load_runs(account(frame, name), flops_tolerance=np.inf)
        ratio = runs.flops / flops_6nd(frame["params"], base["tokens"])
        entry: dict = {"accounting": name, "mean_flops_ratio_to_6nd": float(gmean(ratio))}
        budget = np.full(len(runs), np.nan)
        for k in range(groups.n_budgets):
            members = groups.index == k
            budget[members] = gmean(runs.flops[members])
        for key in approaches:
            fit = registry.get(key).fit(runs, ApproachOptions(budgets=budget, starts=starts))
            result = {"a": float(fit.frontier.a), "b": float(fit.frontier.b)}
            if hasattr(fit, "objective"):
                result["objective"] = fit.objective
            entry[f"approach{key}"] = result
        rows.append(entry)
    for entry in rows:
        for key in ("approach2", "approach3"):
            if key in entry:
                entry[key]["delta_a"] = entry[key]["a"] - rows[0][key]["a"]
    return rows


def format_sensitivity(rows: list[dict]) -> str:
    """The sensitivity report as a Markdown table."""
    lines = [
        "| accounting | C / 6ND (geo. mean) | Approach 2 a | Δa | Approach 3 a | Δa |",
        "|---|---|---|---|---|---|",
    ]
    for entry in rows:
        cells = [entry["accounting"], f"{entry['mean_flops_ratio_to_6nd']:.3f}"]
        for key in ("approach2", "approach3"):
            fit = entry.get(key)
            cells += [f"{fit['a']:.4f}", f"{fit['delta_a']:+.4f}"] if fit else ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)

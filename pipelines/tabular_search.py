"""Hyper-parameter search for one tabular candidate within its budget (trials and/or seconds): Optuna's
TPE sampler, seeded, so the same data and spec give the same trials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipelines.spec import SearchSpace, TabularCandidate
from pipelines.tabular_models import Trial


def suggest(trial: Any, name: str, space: SearchSpace) -> Any:
    if space.choices is not None:
        return trial.suggest_categorical(name, space.choices)
    if space.integer:
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(name, space.low, space.high, log=space.log)


def search_candidate(
    score: Callable[[dict[str, Any]], float], candidate: TabularCandidate
) -> tuple[dict[str, Any], list[Trial]]:
    """The best parameters (the candidate's fixed ones with the searched ones over them) and every trial;
    `score(params)` fits on train and returns the calibration metric (lower is better)."""
    import optuna

    assert candidate.search is not None
    search = candidate.search
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=search.seed))

    def objective(trial: optuna.Trial) -> float:
        params = {**candidate.params, **{k: suggest(trial, k, s) for k, s in search.space.items()}}
        return score(params)

    study.optimize(objective, n_trials=search.trials, timeout=search.timeout_seconds)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    trials = [Trial(t.number, {**candidate.params, **t.params}, float(t.value)) for t in done]
    return {**candidate.params, **study.best_params}, trials

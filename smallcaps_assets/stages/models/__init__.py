"""Event models, the pure core (no Dagster): walk-forward folds purged by label-interval overlap
(``splits``), deterministic LightGBM training with the model as text (``train``), metrics
(``metrics``) and one month end to end with its experiment record (``experiment``). The gates are
in ``stages/models_quality.py``.

Wiring: ``experiment.model_input(event_features, event_labels)`` gives the rows;
``train.numeric_features(rows, feature_columns(rows))`` the feature list;
``experiment.run_month(rows, month, features, data_versions)`` the model of a month (its text,
``sha256``), its out-of-sample predictions and its ``ExperimentRecord``;
``models_quality.model_gates(record, predictions["prob"])`` its gates.
"""

"""Hyper-parameter search of a project's ``tune.space`` with Optuna, tracked in MLflow.

``python -m medai.tuning --project NAME --trials N [--workers W] [--storage URL]`` (see
``medai.tuning.cli`` and docs/tuning.md). The pieces, each with one reason to change:

=============  ======================================================================
``cli``        the command: checks every input, creates or joins the study, starts
               workers, reports and writes the best trial
``worker``     one worker process (``python -m medai.tuning.worker``)
``storage``    the RDB storage: URL check, default SQLite file, queued trials only
``study``      create/join, the per-trial seeded TPE, median pruner, the work loop
``trial``      one trial: sample, ``--set`` overrides, a child run of the engine
``runs``       the MLflow parent run and the stale child runs of dead workers
``best``       the best trial as overrides (``best.yaml``)
``project``    the project by folder name and its kind
=============  ======================================================================

The space itself is config (``medai.config.tuning``), validated like every section.
"""

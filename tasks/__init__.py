"""One module (or package) per job stage: the Prefect task and the stage's own logic.

``stage.py`` holds what every stage shares: the JobContext a flow builds (settings, ledger, the
job's watchdog) and the typed ``run_stage``. Tasks take the context as their first argument.
"""

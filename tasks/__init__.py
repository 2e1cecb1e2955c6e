"""One module per job stage: the Prefect task wrapper and the stage's own logic."""

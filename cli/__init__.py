"""The ``reelflow`` command line: the composition root for local use.

The one package allowed to import ``flows/`` (``reelflow run`` calls a flow in-process, against the
local Prefect server it keeps running, or in a child forked from the warm runner of
:mod:`cli.warm`, which the console script :mod:`cli.entry` hands a run to). It builds settings,
the ledger and the job service and passes them down; the commands hold no job logic
(``infra/jobs/service.py`` does).
"""

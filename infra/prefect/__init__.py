"""Prefect as reelflow uses it: a thin client (create, cancel, read runs), bootstrap (pools, the
locked Docker template, the job limit, automations, deployments) and the local server of the
embedded default. Job policy does not live here (``infra/jobs/service.py``).
"""

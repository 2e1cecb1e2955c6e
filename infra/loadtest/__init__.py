"""``reelflow loadtest``: drive the job API with tiny jobs and report what happened.

Contracts
- Loopback only: a URL whose host does not resolve to loopback addresses only is refused
  (``url_refused``) before any connection.
- Bounded: a profile fixes the number of jobs, the submitting and idle clients, the submit rate
  and the wall-clock budget; after the submissions the driver drains (polls until every job is
  terminal or the drain budget ends). A job accepted (202) and not terminal after the drain is
  **lost**.
- Counts come from the API's own status documents (server-side timestamps for end-to-end time
  and queue wait); a test checks them against the ledger.
"""

from infra.loadtest.driver import LoadRun, run_loadtest
from infra.loadtest.measure import measure_load
from infra.loadtest.profiles import PROFILES, LoadProfile, require_loopback
from infra.loadtest.report import LoadReport, write_reports
from infra.loadtest.resources import ProcessSampler, database_bytes

__all__ = [
    "PROFILES",
    "LoadProfile",
    "LoadReport",
    "LoadRun",
    "ProcessSampler",
    "database_bytes",
    "measure_load",
    "require_loopback",
    "run_loadtest",
    "write_reports",
]

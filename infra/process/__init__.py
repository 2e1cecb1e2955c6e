"""External processes: the one runner (argv only, deadlines, TERM→grace→KILL in ``finally``), the
per-job watchdog (memory, disk, duration, CPU), cgroup reading and the container supervisor.

Pitfall: a guard (the job's watchdog) is passed explicitly to ``run_process``; there is no ambient
"current guard" to forget in a thread pool.
"""

"""Where things live: artifact stores (local folder, S3/MinIO), the storage layout (job ids, key
areas, output names, the manifest), the one checked removal helper, and the job ledger
(SQLAlchemy models, Alembic migrations).

Pitfall: never build a store prefix or a work folder from a raw string; use ``layout`` and
``removal``, which refuse anything but one job's own prefix or folder.
"""

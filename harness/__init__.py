"""The harness that runs recgen the way it is deployed, on loopback, for the tests and the
benchmarks alike: the API served in its own process on a free port (``served``), a real Celery
worker process (``worker_process``) with an optional light engine (``light_engine``), scratch
PostgreSQL databases (``database``), a synthetic catalog and item vectors (``catalog``), the
small seeded world of products and API keys a served API runs on (``world``), and the soak
driver (``soak``).

Who may import it: ``tests/`` and ``bench/`` only; it imports ``recgen`` (and names modules
for a worker process to load), never ``tests`` or ``bench``, so that a benchmark never depends
on the test suite. It is not shipped in the wheel (pyproject's package list names ``recgen``
and ``workers`` only) and not copied into the image. What only tests use (fakes, tiny models,
recording dispatchers, fault injection) stays in ``tests/support/``.
"""

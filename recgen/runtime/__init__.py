"""Runtime: the one place that builds the running system from settings (bootstrap) for the
API, the workers, the CLI and the demo, the Celery configuration they share, and the
dispatchers that submit jobs. Imports every layer below it; nothing below imports it."""

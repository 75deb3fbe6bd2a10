"""A task that kills its worker process, loaded into the test worker with ``-I`` only.

It stands for a real poison message (e.g. an input that segfaults a native kernel): under
acks_late it would be redelivered forever without the delivery guard.
"""

from __future__ import annotations

import os

from celery import Task

from workers.app import app
from workers.tasks import RecgenTask


@app.task(name="recgen.tests.crash_worker", base=RecgenTask, bind=True)
def crash_worker(self: Task) -> None:
    os._exit(1)

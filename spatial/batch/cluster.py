"""The batch's cluster: a LocalCluster of worker processes, or an existing one.

dask.distributed is imported here, in functions, so that only ``spatial batch`` pays
for it. Workers have one thread each (numba and the engine's lanes would only
oversubscribe the cores); the nanny's defaults also start them with one OpenMP, MKL
and OpenBLAS thread, and each task sets its own threads again (spatial.batch.task).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging

from spatial.errors import SceneError

CONNECT_TIMEOUT_S = 10.0


@contextlib.contextmanager
def client(workers: int | None = None, scheduler: str | None = None):
    """A dask Client: connected to `scheduler` (an address such as tcp://host:8786),
    or to a new LocalCluster of `workers` processes closed after. A scheduler that
    does not answer within CONNECT_TIMEOUT_S raises SceneError naming --scheduler."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            c = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            raise SceneError.at(f"no dask scheduler answered at {scheduler} within "
                                f"{CONNECT_TIMEOUT_S:g} s ({reason[:160]})",
                                key="--scheduler") from None
        with contextlib.closing(c):
            yield c
        return
    # the workers' own log lines (a heartbeat lost as the cluster closes...) stay quiet:
    # what a task met comes back through its future, one line
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.CRITICAL)
    with contextlib.closing(cluster), Client(cluster, set_as_default=False) as c:
        yield c


def task_key(stem: str, seed, scene: str) -> str:
    """A task's key: its scene (stem, and a digest of its path) and its seed, so two
    tasks are one only when they render the same scene with the same seed."""
    digest = hashlib.sha1(str(scene).encode()).hexdigest()[:10]
    return f"spatial-render-{stem}-seed{seed}-{digest}"


def run(c, jobs: list[tuple[str, dict]], progress: bool, on_done=None) -> list[dict]:
    """Submit (key, job) pairs of spatial.batch.task.render_scene; returns their entries
    in the order given. A bar over the tasks on stderr (when `progress`); on_done(entry)
    is called as each finishes."""
    import sys

    from distributed import as_completed
    from tqdm import tqdm

    from spatial.batch.task import render_scene

    futures = {c.submit(render_scene, job, key=key, retries=0): i
               for i, (key, job) in enumerate(jobs)}
    out: list[dict | None] = [None] * len(jobs)
    with tqdm(total=len(jobs), unit="scene", file=sys.stderr, disable=not progress,
              dynamic_ncols=True) as bar:
        for fut in as_completed(list(futures), loop=c.loop):
            i = futures[fut]
            try:
                entry = fut.result()
            except Exception as err:  # noqa: BLE001 - a worker lost, not the scene's error
                from spatial.batch.task import FAILED, one_line

                job = jobs[i][1]
                entry = {"scene": job["scene"], "stem": job["stem"], "status": FAILED,
                         "error": one_line(err), "outputs": {}}
            out[i] = entry
            fut.release()
            if on_done is not None:
                on_done(entry, bar)
            bar.update(1)
    return out

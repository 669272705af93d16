"""One batch task: render one scene on a worker, writing its files there.

:func:`render_scene` gets a small job (the scene's path, the output folder, the
formats, the thread count...) and returns a small summary for the manifest; the
audio never travels back through the scheduler. The files are named as
``spatial render`` names them (spatial.mix.deliver.deliverables): ``DIR/<stem>.wav``,
or ``DIR/<stem>.<format>.wav`` with several formats, committed atomically
(spatial.writer); with labels, ``DIR/<stem>.csv`` (spatial.batch.labels).

Shared state: every task runs with its own thread settings, set here and passed
explicitly (BLAS threads by threadpoolctl, numba's thread count, the planner's and
the loop's threads); the tail cache and the ray tracer's generator are locked
(spatial.plan, spatial.room.decay), and every random stream is seeded from the scene.

A task never raises: a bad scene (or any failure) comes back as status "failed" with
its one-line error, so the other tasks go on.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from pathlib import Path

OK, SKIPPED, FAILED = "ok", "skipped", "failed"


def load(path: str, formats: str | None = None):
    """The scene at `path`, with output.format replaced by `formats` (if given; its
    problems then name the flag --format)."""
    from spatial.scene.loader import load_scene

    scene = load_scene(path)
    if not formats:
        return scene
    locations = dict(scene.locations)
    locations["output.format"] = ("--format", None)
    from spatial.scene.parts import checked

    with checked():
        out = dataclasses.replace(scene.output, format=formats)
    return dataclasses.replace(scene, output=out, locations=locations)


def outputs(scene, out_dir: Path, stem: str, labels: bool) -> dict:
    """What a render of `scene` into out_dir writes: format -> [mix file, stem files...],
    and "labels" -> [the CSV] with labels."""
    from spatial.mix.deliver import deliverables

    out = {fmt: [path, *stems.values()] for fmt, (path, stems) in
           deliverables(scene, out_dir / f"{stem}.wav").items()}
    if labels:
        out["labels"] = [out_dir / f"{stem}.csv"]
    return out


def inputs(scene) -> list[Path]:
    """The files a render of `scene` reads: the scene file, its extends bases and room
    preset (every file a key of it was read from), its sources' files, its HRTF."""
    files = {Path(f) for f, _ in scene.locations.values()  # not "--format", "with_source(...)"
             if f and Path(f).is_file()}
    if scene.path is not None:
        files.add(Path(scene.path))
    files.update(Path(s.file) for s in scene.sources)
    if scene.output.hrtf != "default":
        files.add(Path(scene.output.hrtf))
    return sorted(files)


def up_to_date(scene, made: dict) -> bool:
    """Whether every output exists and is newer than every input."""
    try:
        oldest = min(os.stat(f).st_mtime_ns for files in made.values() for f in files)
    except OSError:
        return False
    newest = 0
    for f in inputs(scene):
        try:
            newest = max(newest, os.stat(f).st_mtime_ns)
        except OSError:
            return False  # an input gone: the render says so
    return oldest > newest


def _finite(x):
    return float(x) if x is not None and math.isfinite(x) else None


@contextlib.contextmanager
def thread_settings(threads: int):
    """This task's threads: BLAS/OpenMP pools (threadpoolctl) and numba's thread count
    (numba's setting is per thread: the task's own), restored after."""
    import numba
    from threadpoolctl import threadpool_limits

    old = numba.get_num_threads()
    with threadpool_limits(limits=threads):
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        try:
            yield
        finally:
            numba.set_num_threads(old)


def render_scene(job: dict) -> dict:
    """Render job["scene"] into job["out_dir"]; returns its manifest entry (module doc).

    job: scene (path), stem (its output name), out_dir, formats (None: the scene's),
    labels (bool), classes (label -> class index, with labels), threshold_db (labels'
    activity threshold), force (re-render up-to-date outputs), threads, subtype."""
    entry = {"scene": job["scene"], "stem": job["stem"], "status": FAILED, "error": None,
             "outputs": {}}
    try:
        _render(job, entry)
    except Exception as err:  # noqa: BLE001 - a task reports, it never raises
        entry["status"] = FAILED
        entry["error"] = one_line(err)
    return entry


def one_line(err: Exception) -> str:
    """An error as one line: a scene's problems joined by '; ', else type and message."""
    from spatial.errors import SpatialError

    if isinstance(err, SpatialError):
        problems = getattr(err, "problems", None) or [str(err)]
        return "; ".join(" ".join(str(p).split()) for p in problems)
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def skipped(job: dict, scene=None) -> dict | None:
    """The entry of a job whose outputs are all up to date (status "skipped", durations
    read from the files), or None when it must render (or with job["force"])."""
    scene = scene if scene is not None else load(job["scene"], job.get("formats"))
    entry, made = _entry(job, scene)
    if job.get("force") or not up_to_date(scene, made):
        return None
    import soundfile as sf

    for done in entry["outputs"].values():
        info = sf.info(done["path"])
        done.update(status=SKIPPED, duration_s=info.frames / info.samplerate)
    entry["status"] = SKIPPED
    return entry


def _entry(job: dict, scene) -> tuple[dict, dict]:
    """A job's entry before rendering (its outputs' paths), and what it writes."""
    made = outputs(scene, Path(job["out_dir"]), job["stem"], bool(job.get("labels")))
    entry = {"scene": job["scene"], "stem": job["stem"], "status": FAILED, "error": None,
             "seed": int(scene.seed),
             "outputs": {fmt: {"path": str(files[0]), "stems": [str(f) for f in files[1:]]}
                         for fmt, files in made.items() if fmt != "labels"}}
    if job.get("labels"):
        entry["labels"] = str(made["labels"][0])
    return entry, made


def _render(job: dict, entry: dict) -> None:
    out_dir = Path(job["out_dir"])
    scene = load(job["scene"], job.get("formats"))
    done = skipped(job, scene)
    if done is not None:
        entry.update(done)
        return
    new, made = _entry(job, scene)
    entry.update(new)
    from spatial.renderer import render_to_file

    threads = int(job.get("threads") or 1)
    with thread_settings(threads):
        t0 = time.perf_counter()
        stats = render_to_file(scene, out_dir / f"{job['stem']}.wav", subtype=job.get("subtype"),
                               threads=threads)
        render_s = time.perf_counter() - t0
    fs = scene.sample_rate
    for fmt, done in stats["outputs"].items():
        mix = done["mix"]
        entry["outputs"][fmt].update(
            status=OK, duration_s=done["frames"] / fs, render_s=round(render_s, 4),
            compile_s=round(stats["compile_s"], 4), loudness_lufs=_finite(mix.get("loudness")),
            true_peak_dbtp=_finite(mix.get("true_peak")), warning=mix.get("warning"))
    if job.get("labels"):
        from spatial.batch.labels import write_labels

        length = max(d["frames"] for d in stats["outputs"].values()) / fs
        entry["events"] = write_labels(scene, made["labels"][0], job["classes"], length,
                                       job.get("threshold_db"))
    entry["status"] = OK
    entry["render_s"] = round(render_s, 4)

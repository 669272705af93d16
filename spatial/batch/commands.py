"""The `spatial batch` and `spatial variations` subcommands: parsers and drivers.

Light at import (dask, the renderer and the scene loader are imported inside the
drivers), so registering them costs `spatial render` nothing.

Exit status of `batch`: 0 when every scene rendered (or was up to date), 1 when one
or more failed (each reported on stderr and in the manifest, the others rendered), 2
when the batch could not start (bad folder, no scheduler, two scenes of one name).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

EXIT_FAILED = 1


def add_parsers(sub) -> None:
    p = sub.add_parser("batch", help="render many scenes on a dask cluster (a local one by "
                       "default), with a manifest.json of what was made")
    p.add_argument("scenes", nargs="+", metavar="SCENE", help="scene files")
    p.add_argument("--out-dir", required=True, metavar="DIR", help="where the renders go "
                   "(<scene stem>.wav, or <scene stem>.<format>.wav with several formats)")
    p.add_argument("--format", help="override output.format of every scene (several, "
                   "comma-separated, in one pass per scene)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help="worker processes of the "
                       "local cluster (default: the CPUs, at most one per scene)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing cluster's "
                       "scheduler, e.g. tcp://10.0.0.5:8786 (see `dask scheduler`)")
    p.add_argument("--labels", action="store_true", help="also write <scene stem>.csv, the "
                   "SELD ground truth (DCASE / STARSS23 format)")
    p.add_argument("--classes", metavar="A,B,...", help="the labels' class list, in index "
                   "order (default: the batch's labels, sorted)")
    p.add_argument("--label-threshold", type=float, metavar="DBFS", default=None,
                   help="a source is active in a frame at or above this RMS (default -60)")
    p.add_argument("--force", action="store_true", help="render even outputs that are "
                   "newer than their inputs")
    p.add_argument("--subtype", help="sample format, e.g. PCM_24, PCM_16, FLOAT")
    p.add_argument("--sandbox", metavar="DIR", help="fail every scene with an input, or an "
                   "output folder, outside DIR (scenes from untrusted generators)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(func=cmd_batch)
    p = sub.add_parser("variations", help="write N concrete scenes drawn from a scene whose "
                       "values may be distributions ({uniform: ...}, {normal: ...}, ...)")
    p.add_argument("scene", help="the scene with distributions")
    p.add_argument("-n", type=int, required=True, metavar="N", help="how many scenes")
    p.add_argument("--seed", type=int, default=0, help="the draw's seed (same seed, same "
                   "files)")
    p.add_argument("--out-dir", required=True, metavar="DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=cmd_variations)


def out_folder(path: str) -> Path:
    """The output folder, made if need be; SceneError (--out-dir) if it cannot be written."""
    import tempfile

    from spatial.errors import SceneError

    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".spatial-check-"):
            pass
    except OSError as err:
        raise SceneError.at(f"cannot write to the folder {folder}: "
                            f"{err.strerror or err}", key="--out-dir") from None
    return folder.resolve()


def _stems(scenes: list[str]) -> list[str]:
    from spatial.errors import SceneError

    seen: dict[str, str] = {}
    for s in scenes:
        stem = Path(s).stem
        if stem in seen and seen[stem] != s:
            raise SceneError.at(f"{seen[stem]} and {s} would both be rendered to {stem}.wav: "
                                "give the scenes different names", key="SCENE")
        seen[stem] = s
    return list(seen)


def cmd_batch(args) -> int:
    from spatial.batch import cluster, manifest
    from spatial.batch.task import FAILED, SKIPPED, load, one_line, skipped
    from spatial.errors import SceneError

    out_dir = out_folder(args.out_dir)
    if args.workers is not None and args.workers < 1:
        raise SceneError.at(f"must be 1 or more, got {args.workers}", key="--workers")
    scenes = list(dict.fromkeys(str(Path(s).expanduser().resolve()) for s in args.scenes))
    stems = _stems(scenes)
    t0 = time.perf_counter()
    entries: dict[int, dict] = {}
    loaded = {}
    for i, (path, stem) in enumerate(zip(scenes, stems)):  # seeds, labels; bad ones now
        try:
            loaded[i] = load(path, args.format)
        except Exception as err:  # noqa: BLE001 - reported as the task would
            entries[i] = {"scene": path, "stem": stem, "status": FAILED,
                          "error": one_line(err), "outputs": {}}
            _report(entries[i])
    if getattr(args, "sandbox", None):  # spatial.safety: inputs and outputs inside DIR
        from spatial.safety import sandbox_problems

        for i, scene in list(loaded.items()):
            problems = sandbox_problems(scene, [("output folder", out_dir)], args.sandbox,
                                        key="--out-dir")
            if problems:
                entries[i] = {"scene": scenes[i], "stem": stems[i], "status": FAILED,
                              "error": "; ".join(str(p) for p in problems), "outputs": {}}
                _report(entries[i])
                del loaded[i]
    classes = None
    if args.labels:
        from spatial.batch.labels import classes_of

        names = ([c.strip() for c in args.classes.split(",") if c.strip()] if args.classes
                 else classes_of(loaded.values()))
        classes = {name: k for k, name in enumerate(names)}
        for i, scene in list(loaded.items()):
            missing = sorted({s.label or s.role for s in scene.sources if s.diegetic}
                             - set(classes))
            if missing:
                entries[i] = {"scene": scenes[i], "stem": stems[i], "status": FAILED,
                              "error": f"{scenes[i]}: labels {', '.join(missing)} are not in "
                                       "--classes", "outputs": {}}
                _report(entries[i])
                del loaded[i]
    jobs = []
    before = manifest.previous(out_dir)
    for i, scene in loaded.items():
        job = {"scene": scenes[i], "stem": stems[i], "out_dir": str(out_dir),
               "formats": args.format, "labels": bool(args.labels), "classes": classes,
               "threshold_db": args.label_threshold, "force": bool(args.force),
               "threads": 1, "subtype": args.subtype}
        entry = skipped(job, scene)  # up to date: no task (nor a cluster) for it
        if entry is not None:
            entries[i] = manifest.carry(entry, before.get(entry["scene"]))
            continue
        jobs.append((i, cluster.task_key(stems[i], scene.seed, scenes[i]), job))
    if jobs:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        workers = args.workers or max(1, min(cpus, len(jobs)))
        progress = not args.quiet and sys.stderr.isatty()
        with cluster.client(workers, args.scheduler) as c:
            done = cluster.run(c, [(k, j) for _, k, j in jobs], progress,
                               lambda e, bar: _report(e, bar))
        for (i, _, _), entry in zip(jobs, done):
            entries[i] = (manifest.carry(entry, before.get(entry["scene"]))
                          if entry["status"] == SKIPPED else entry)
    ordered = [entries[i] for i in sorted(entries)]
    header = {"formats": args.format, "labels": bool(args.labels)}
    if classes is not None:
        header["classes"] = {str(k): name for name, k in classes.items()}
    path = manifest.write(out_dir, ordered, **header)
    failed = sum(e["status"] == FAILED for e in ordered)
    if not args.quiet:
        skipped = sum(e["status"] == SKIPPED for e in ordered)
        print(f"{len(ordered)} scenes: {len(ordered) - failed - skipped} rendered, {skipped} "
              f"up to date, {failed} failed, in {time.perf_counter() - t0:.1f} s; "
              f"manifest {path}")
    return EXIT_FAILED if failed else 0


def _report(entry: dict, bar=None) -> None:
    """A failed scene's one-line error on stderr (above the bar, if one runs)."""
    if entry["status"] != "failed":
        return
    error = entry["error"]
    line = f"spatial: error: {error}" if entry["scene"] in error else \
        f"spatial: error: {entry['scene']}: {error}"
    if bar is not None and not bar.disable:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def cmd_variations(args) -> int:
    from spatial.batch.variations import write_variations
    from spatial.errors import SceneError

    if args.n < 1:
        raise SceneError.at(f"must be 1 or more, got {args.n}", key="-n")
    out_dir = out_folder(args.out_dir)
    paths = write_variations(args.scene, args.n, args.seed, out_dir)
    if not args.quiet:
        print(f"{len(paths)} scenes from {args.scene} (seed {args.seed}) in {out_dir}: "
              f"{paths[0].name} .. {paths[-1].name}")
    return 0

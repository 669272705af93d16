"""Many scenes at once: ``spatial batch`` on dask.distributed (:mod:`.commands`,
:mod:`.cluster`), one task per scene (:mod:`.task`) that writes its own files, the
batch's ``manifest.json`` (:mod:`.manifest`), scene variations (:mod:`.variations`,
``spatial variations``) and SELD ground-truth labels (:mod:`.labels`).

Nothing here is imported by ``spatial render``: dask is imported by the batch command
only.
"""

"""ADM BW64 object masters (output format ``adm``): ITU-R BS.2076 metadata in a
BS.2088 file, the interchange form of immersive masters.

- :mod:`spatial.adm.bw64`: the file (RIFF/BW64, ds64 past 4 GiB, chna, axml);
- :mod:`spatial.adm.axml`: the ADM XML and the chna rows;
- :mod:`spatial.adm.objects`: where each object is relative to the listener's head,
  block by block, its gain (1 / r) and its propagation delay;
- :mod:`spatial.adm.sink`: the sink that writes a master from the render's views
  (the sources' dry signals, and the room bed the engine renders);
- :mod:`spatial.adm.keys`: the scene file's ``output.adm`` keys.

What the engine renders for format ``adm`` is the room's part alone (reflections and
tail, no direct path, no beds: :func:`spatial.plan.source_filter`) in the room bed's
format (``output.adm.room``); the objects and beds are the sources' own signals.
"""

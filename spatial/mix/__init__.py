"""The mix: buses by role, ducking, dialogue clarity, room-to-score transitions,
loudness to a target with a true-peak limiter, and stems.

- :mod:`spatial.mix.keys`: the scene keys (``mix:``, ``output.loudness`` ...);
- :mod:`spatial.mix.plan`: transitions and dialogue-to-centre, applied to a RenderPlan;
- :mod:`spatial.mix.buses`: the render loop split by role, bus gains and ducking;
- :mod:`spatial.mix.loudness`: BS.1770-4 loudness, EBU Tech 3342 range, true peak;
- :mod:`spatial.mix.limiter`: the look-ahead true-peak limiter;
- :mod:`spatial.mix.deliver`: render to files or memory through the sinks
  (:mod:`spatial.sinks`) and the master (:mod:`spatial.master`): measure, normalise,
  limit, report.
"""

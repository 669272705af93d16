"""The mix: buses by role, ducking, dialogue clarity, room-to-score transitions,
loudness to a target with a true-peak limiter, and stems. The stages here run
above the plan and the render loop; the signal processing they share with the
plan (biquads, meters, limiter, ducking gains) is in :mod:`spatial.dsp`, below both.

- :mod:`spatial.mix.keys`: the scene keys (``mix:``, ``output.loudness`` ...);
- :mod:`spatial.mix.plan`: transitions and dialogue-to-centre, applied to a RenderPlan;
- the buses themselves (gains, ducking, stems) are inside the one render pass:
  :mod:`spatial.routing` and :mod:`spatial.loop`;
- :mod:`spatial.mix.deliver`: render to files or memory through the sinks
  (:mod:`spatial.sinks`) and the master (:mod:`spatial.master`): measure, normalise,
  limit, report.
- :mod:`spatial.mix.report`: what the CLI says about the mix (warnings, summary).
"""

"""The mix: buses by role, ducking, dialogue clarity, room-to-score transitions,
loudness to a target with a true-peak limiter, and stems. The stages here run
above the plan and the render loop; the signal processing they share with the
plan (biquads, meters, limiter, ducking gains) is in :mod:`spatial.dsp`, below both.

- :mod:`spatial.mix.keys`: the scene keys (``mix:``, ``output.loudness`` ...);
- :mod:`spatial.mix.plan`: transitions and dialogue-to-centre, applied to a RenderPlan;
- :mod:`spatial.mix.buses`: the render loop split by role, bus gains and ducking;
- :mod:`spatial.mix.deliver`: render to file(s): measure, normalise, limit, report;
- :mod:`spatial.mix.report`: what the CLI says about the mix (warnings, summary).
"""

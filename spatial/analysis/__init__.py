"""The mood profile of a mix: what a piece sounds like, overall and window by window.

One module per concept: spectrum (centroid, band balance), dynamics (dynamic
range, onsets), width (IACC, speaker spread, energy vector, front/back/height),
reverb (T30/EDT, free-decay estimate), sii (ANSI S3.5 Speech Intelligibility
Index), sink (ProfileSink, the streaming analyser), profile (the Profile
dataclass and its JSON), profiling (spatial.analyze), comparison
(spatial.compare), motifs (what a motif sounds like where it occurs), table
(the terminal summary), plots (the pictures), commands (the CLI's drivers).
"""

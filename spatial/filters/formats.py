"""The output formats, one home for the list: the scene checks
(:mod:`spatial.scene.validate`), the layouts (:mod:`spatial.filters.layouts`), the
spatialisers (:mod:`spatial.filters.speakers`) and the command line's help read it
here. Plain data, so ``spatial --help`` does not import numpy for it."""
from __future__ import annotations

SPEAKER_FORMATS = ("stereo", "5.1", "7.1", "5.1.4", "7.1.4")
AMBISONIC_FORMATS = ("foa", "hoa2", "hoa3")
# "adm": an object-based ADM BW64 master (spatial.adm); what the engine renders for it is
# only its room bed, in one of ADM_ROOMS (output.adm.room; "none": no room bed)
ADM_ROOMS = ("hoa3", "7.1.4", "none")
FORMATS = ("binaural", "mono") + SPEAKER_FORMATS + AMBISONIC_FORMATS + ("custom", "adm")

"""Analyses of audio (a mix, an episode): what it contains and where."""

"""spatial: scene files to immersive audio."""
__version__ = "0.1.0"

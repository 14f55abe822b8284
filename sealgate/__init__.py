"""sealgate: the seal office of a township, in software."""

__version__ = "0.1.0"

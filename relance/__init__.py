"""Relance: credit control and dunning for B2B companies."""

__version__ = "0.1.0"

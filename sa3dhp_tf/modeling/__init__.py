"""Keras 3 models of the method (see docs/ARCHITECTURE.md)."""

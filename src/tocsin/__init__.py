"""Tocsin: incident management from the first alert to the lesson that changes the architecture."""

__version__ = "0.1.0"

"""Traces: the OTLP receiver, stored spans, service figures, dependency map, failure isolation."""

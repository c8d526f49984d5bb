"""Synthetic checks: scripted probes of a service from the outside, on a schedule."""

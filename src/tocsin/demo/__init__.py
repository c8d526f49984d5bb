"""The demo organisation that `make run` starts with: the Astronomy Shop."""

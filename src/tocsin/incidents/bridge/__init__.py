"""The incident bridge: a conference link, time-boxed structured updates and their cadence."""

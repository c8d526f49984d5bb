"""Coordinating several teams in one incident: workstreams, tasks, decisions and conflicts."""

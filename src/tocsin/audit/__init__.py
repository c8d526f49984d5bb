"""The append-only record of every change: who did what to which object, before and after."""

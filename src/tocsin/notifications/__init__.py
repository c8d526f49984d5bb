"""Notifications: telling people, on the channels they chose, that something needs them."""

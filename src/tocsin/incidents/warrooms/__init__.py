"""Incident war rooms: a chat room per incident on the web page, Slack or Matrix."""

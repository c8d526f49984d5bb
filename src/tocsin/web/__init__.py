"""Server-rendered pages (Jinja, htmx, Alpine.js) and live updates over SSE."""

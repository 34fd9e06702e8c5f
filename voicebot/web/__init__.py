"""The agent's and supervisor's screens: a FastAPI app with server-rendered pages (Jinja2), live updates
over server-sent events, htmx vendored under ``static/vendor`` (no build step), and a JSON API."""

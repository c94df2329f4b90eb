"""The web UI's presentation: browser sessions and CSRF, the security headers every page carries, the
Jinja2 templates (autoescaped) and their view models, rendered descriptions, the Connect panel's
snippets, and the static CSS and copy-button script. Handlers are in functions/web.py; every action
they take goes through the same domain functions and ``auth.authorize`` checks as the JSON API.

Jinja2 and readme-renderer are imported on first use, not with the app: a cold start that serves
pip pays nothing for the UI.
"""

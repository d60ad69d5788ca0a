"""The web console: server-rendered pages (Jinja2 templates, small plain JavaScript, no third-party
front-end code) served by the API process under ``/``, in Vietnamese (default) and English.

Pages call the same services as ``/api/v1`` with the logged-in user's ``Actor``, so scoping,
permissions, transitions and audit are the API's own; the UI only hides what the role cannot do.
"""

"""Who is calling: bearer tokens (config admin tokens, login sessions, API tokens) resolved to an
``Actor`` with a role, an agency scope and the actions the role's permissions (data) allow."""

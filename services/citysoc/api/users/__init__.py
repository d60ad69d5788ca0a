"""Access: users with ranked roles, password login, API tokens, the role → action table."""

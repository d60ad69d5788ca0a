"""The hash-chained audit log: append on every change, list, verify."""

"""Registry: information systems (Decree 85/2016 levels, four-layer protection, log sources)."""

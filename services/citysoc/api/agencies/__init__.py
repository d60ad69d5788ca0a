"""Registry: agencies (city departments, districts, wards, public service units)."""

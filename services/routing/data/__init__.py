"""Routing's reference data and rules (YAML), shipped with the package."""

"""Intake's rule data (YAML), shipped inside the package so installed images carry it."""

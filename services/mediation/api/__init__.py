"""Mediation's HTTP entrypoints and event handlers, by subject."""

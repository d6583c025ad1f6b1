"""Stages: one module per rule file; every function that reads or writes pipeline files."""

"""Analyses of a materialized model: init statistics, estimates, symbolic shapes."""

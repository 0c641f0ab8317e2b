"""Models written in Python: targets named on the command line (target.py), a structural copy
that leaves the user's model untouched (structure.py), and the pass over it (run.py)."""

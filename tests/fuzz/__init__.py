"""Coverage-guided fuzzing of shapecli's readers: targets.py (the table and the contract), run.py (the driver), seeds.py."""

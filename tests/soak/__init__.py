"""The randomized fault soak: rounds of real batches, one fault each at a seeded moment.

``make soak`` runs :mod:`tests.soak` (100 rounds); the suite runs a 5-round smoke
(``test_soak_smoke.py``). Each round's seed is printed, and for a round that breached the line
that reruns it, e.g. ``make soak SOAK_ARGS="--seed S --rounds 1 --outages on"``: the same
pages, fault, moment and durations (the services' own timing still varies).
"""

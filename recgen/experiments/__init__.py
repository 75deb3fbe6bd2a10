"""A/B experiments of generated against stock content: assignment, statistics and the
report, exposure logging, the seeded user simulator and the end-to-end simulation.
Imports jobs and the layers below it."""

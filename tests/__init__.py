"""The txsmarkets trial suite."""

from hypothesis import settings

# Shared, noisy machines: a slow example is no failure. Timing targets live in bench/.
settings.register_profile("txsmarkets", deadline=None)
settings.load_profile("txsmarkets")

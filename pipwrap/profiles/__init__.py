"""Profiles: the config file's model, how it is read, edited and chosen, and the
environment a profile gives a wrapped command."""

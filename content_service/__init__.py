"""Gatehouse content service: the static site behind the login."""

"""Recorded upstream responses served in snapshot mode (see README.md in this folder)."""

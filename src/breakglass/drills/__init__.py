"""Drills: scripted attacks on a local chain and tabletop exercises, with reports."""

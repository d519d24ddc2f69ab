"""Responding to an incident on chain: nonces, urgency-aware gas and sending transactions."""

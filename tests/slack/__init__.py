"""Tests of the Slack surface and the local Slack stand-in."""

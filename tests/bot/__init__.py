"""Tests of the bot package: configuration and the command line."""

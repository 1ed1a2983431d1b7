"""The Slack surface: command parsing, ids, and pure Block Kit builders."""

"""Running the bot: serving, the demo, and the local Slack stand-in."""

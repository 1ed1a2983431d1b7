"""The watcher: poll passes with adaptive intervals, alerts in threads, stalls, outages, sync."""

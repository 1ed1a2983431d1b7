"""The reliability suite: fuzzing, hostile input, faults, crashes, load, secrets, and figures."""

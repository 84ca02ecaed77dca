"""National uploads: reading, validating and loading the files countries send."""

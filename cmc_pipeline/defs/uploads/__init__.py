"""National uploads: the inbox sensor, one loading job per dataset, and their assets."""

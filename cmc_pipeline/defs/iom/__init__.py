"""IOM data: Missing Migrants Project incidents and Displacement Tracking Matrix figures."""

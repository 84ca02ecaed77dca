"""Migration governance needs keyed from IOM assessments."""

"""Running the pipeline on its own: refresh schedules, freshness checks and the sensor that
tells people when a run fails."""

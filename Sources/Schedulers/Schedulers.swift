// Noise schedules and samplers: see issue 4.

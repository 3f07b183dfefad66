"""Settings: `base` reads everything from the environment; `test` and `production` are small overrides."""

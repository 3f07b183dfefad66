"""The demo: accounts, seeded projects with a crowd history, a dataset version and a model (`manage.py demo`)."""

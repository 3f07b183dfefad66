"""Candidate collection from image search, and contributed images. See README.md beside this file."""

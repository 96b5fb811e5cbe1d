"""Tests for the scorers package."""

"""Tests for the scorer plumbing."""

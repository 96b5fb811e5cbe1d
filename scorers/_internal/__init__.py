"""Scorer plumbing (registry, entry-point loading, output checks, listing); may change freely."""

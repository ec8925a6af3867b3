"""Deployment certification harness for inventory-tracker (library part; no pytest here)."""

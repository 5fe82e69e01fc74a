"""Tests of strato.identity (a package so that its conftest and helpers have their own names)."""

"""Comparison of planned and actual trips; findings for controllers."""

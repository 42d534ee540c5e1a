"""For tools that need a setup.py (Beam's --setup_file stages the project with it); the
metadata and the package list live in pyproject.toml."""

from setuptools import setup

setup()

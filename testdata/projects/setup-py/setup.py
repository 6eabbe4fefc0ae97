"""A package as many published projects still are: setup.py, no pyproject.toml."""

from setuptools import setup

setup(
    name="legacy-greeter",
    version="1.0.0",
    packages=["greeter"],
    install_requires=["six"],
    entry_points={"console_scripts": ["greet = greeter:main"]},
)

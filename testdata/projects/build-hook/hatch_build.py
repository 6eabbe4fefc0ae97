"""Stamps the package with the version of six the build ran with."""

import pathlib

import six
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version, build_data):
        stamp = pathlib.Path(self.root, "src", "hookapp", "built_with.txt")
        stamp.write_text(f"six {six.__version__}\n")
        build_data["force_include"][str(stamp)] = "hookapp/built_with.txt"

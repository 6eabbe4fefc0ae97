"""A fixture service whose dependency comes from git over SSH."""

import pybase_git_demo


def main() -> None:
    print(f"gitdemo: {pybase_git_demo.GREETING}")

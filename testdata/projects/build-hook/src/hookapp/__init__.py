import importlib.resources


def main():
    stamp = importlib.resources.files("hookapp").joinpath("built_with.txt")
    print(f"hookapp built with {stamp.read_text().strip()}")

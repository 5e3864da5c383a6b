"""``python -m xladjust``: the command line."""

from xladjust.cli import main

if __name__ == "__main__":
    main()

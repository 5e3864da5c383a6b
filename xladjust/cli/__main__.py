"""``python -m xladjust.cli`` (as ``accelerate launch -m xladjust.cli`` and ``torchrun`` start it)."""

from xladjust.cli import main

if __name__ == "__main__":
    main()

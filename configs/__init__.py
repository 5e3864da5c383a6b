"""The config files shipped with xladjust (``xladjust config list``, ``config copy``)."""

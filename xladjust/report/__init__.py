"""Reports over many runs: ``xladjust compare`` gathers run folders (:mod:`.gather`), builds
the comparison's sections (:mod:`.compare`) and renders Markdown and HTML (:mod:`.html`)."""
